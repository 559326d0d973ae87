//! The `andon` binary as a user runs it: start, print URLs, answer, stop on SIGINT, exit
//! codes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const ANDON: &str = env!("CARGO_BIN_EXE_andon");

/// A scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A running `andon serve` with its stdout lines up to `ready`.
struct Served {
    child: Child,
    lines: Vec<String>,
}

impl Served {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(ANDON)
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("andon starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let ready = line.starts_with("ready");
                    lines.push(line);
                    if ready {
                        break;
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let out = child.wait_with_output().expect("output");
                    panic!(
                        "andon serve did not get ready ({e}): stdout {lines:?}, stderr {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
        Self { child, lines }
    }

    /// The URL printed for `name` (`erp  http://127.0.0.1:PORT`).
    fn url(&self, name: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| {
                let mut cols = l.split_whitespace();
                (cols.next() == Some(name)).then(|| cols.next().map(str::to_string))?
            })
            .unwrap_or_else(|| panic!("no line for {name} in {:?}", self.lines))
    }

    /// Sends SIGINT and waits for the exit code.
    fn interrupt(mut self) -> (i32, String) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                let mut stderr = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
                }
                return (status.code().unwrap_or(-1), stderr);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("andon serve did not stop within 15 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test]
async fn serve_prints_its_urls_answers_and_stops_cleanly_on_sigint() {
    let dir = scratch("serve");
    let history = dir.join("history.jsonl");
    let served = Served::start(&[
        "--systems",
        "erp",
        "--port",
        "erp=0",
        "--sut-ingress",
        "erp=http://127.0.0.1:9/events/erp",
        "--history",
        history.to_str().expect("utf-8 path"),
    ]);
    let erp = served.url("erp");
    assert!(erp.starts_with("http://127.0.0.1:"), "{erp}");
    assert!(
        served
            .lines
            .iter()
            .any(|l| l.trim() == format!("conformance  {erp}/_andon/conformance")),
        "{:?}",
        served.lines
    );

    let http = client();
    let health: serde_json::Value = http
        .get(format!("{erp}/_andon/health"))
        .send()
        .await
        .expect("health answers")
        .json()
        .await
        .expect("health is JSON");
    assert_eq!(health["system"], "erp");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["ingress"], "http://127.0.0.1:9/events/erp");
    let openapi: serde_json::Value = http
        .get(format!("{erp}/openapi.json"))
        .send()
        .await
        .expect("openapi answers")
        .json()
        .await
        .expect("openapi is JSON");
    assert!(
        openapi["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{openapi}"
    );
    let stock = http
        .get(format!("{erp}/api/v1/stock?plant=1000"))
        .send()
        .await
        .expect("stock answers");
    assert_eq!(stock.status(), 200);

    let (code, stderr) = served.interrupt();
    assert_eq!(code, 0, "stderr: {stderr}");
    let written = std::fs::read_to_string(&history).expect("history written");
    assert!(
        written
            .lines()
            .any(|l| l.contains("\"record\":\"request\"") && l.contains("/api/v1/stock")),
        "{written}"
    );
}

#[tokio::test]
async fn a_stub_is_served_next_to_the_simulators() {
    let dir = scratch("stub");
    let api = dir.join("api.yaml");
    std::fs::write(
        &api,
        "openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /ping:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              example: {pong: true}\n",
    )
    .expect("write api.yaml");
    let served = Served::start(&[
        "--systems",
        "wms",
        "--port",
        "wms=0",
        "--stub",
        &format!("{}=0", api.display()),
    ]);
    let stub = served.url("stub");
    let pong: serde_json::Value = client()
        .get(format!("{stub}/ping"))
        .send()
        .await
        .expect("stub answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(pong, serde_json::json!({"pong": true}));
    let (code, stderr) = served.interrupt();
    assert_eq!(code, 0, "stderr: {stderr}");
}

#[test]
fn a_bad_master_data_file_exits_2_naming_file_and_line() {
    let dir = scratch("bad-data");
    let data = dir.join("plant.yaml");
    std::fs::write(&data, "plants:\n  - plant: \"10000\"\nmaterials: []\n").expect("write");
    let out = Command::new(ANDON)
        .args(["serve", "--port", "erp=0,mes=0,qms=0,wms=0", "--data"])
        .arg(&data)
        .output()
        .expect("andon runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:2:", data.display())),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("exactly 4 characters"), "stderr: {stderr}");
}

#[test]
fn usage_errors_exit_2_and_version_exits_0() {
    let out = Command::new(ANDON)
        .args(["serve", "--systems", "crm"])
        .output()
        .expect("andon runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("crm"));

    let out = Command::new(ANDON)
        .args(["serve", "--stub", "/nonexistent/api.yaml"])
        .output()
        .expect("andon runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/api.yaml"));

    let out = Command::new(ANDON)
        .arg("--version")
        .output()
        .expect("andon runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("andon "));
}

#[test]
fn reference_sut_lists_every_defect() {
    let out = Command::new(ANDON)
        .args(["reference-sut", "--list-defects"])
        .output()
        .expect("andon runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(
        text.lines().count(),
        andon_reference_middleware::Defect::ALL.len(),
        "{text}"
    );
    assert!(text.contains("ack-before-persist — "), "{text}");
}

#[test]
fn reference_sut_with_an_unknown_defect_is_a_usage_error() {
    let out = Command::new(ANDON)
        .args(["reference-sut", "--defect", "meteor"])
        .env_remove("DEFECTS")
        .output()
        .expect("andon runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown defect \"meteor\""));
}
