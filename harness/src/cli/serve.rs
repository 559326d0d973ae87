//! `andon serve`: arguments, and what it prints.
//!
//! Standard output carries one line per endpoint, `NAME  URL`, followed by indented detail
//! lines, then `ready`; scripts may parse the first two columns. Logs go to stderr.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use andon_contracts::{PlantId, System};
use clap::{Args, ValueEnum};

pub(crate) use andon_simulators::standalone::parse_system;

use super::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::serve::{MasterSource, ServeOptions, StubSpec};

/// Arguments of `andon serve`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  andon serve
  andon serve --systems erp,mes --data plant.yaml --sut-ingress erp=http://localhost:9000/events/erp
  andon serve --port erp=0 --stub vendor-api.yaml=8110 --history history.jsonl")]
pub struct ServeArgs {
    /// Systems to simulate.
    #[arg(
        long,
        value_name = "SYSTEM,…",
        value_delimiter = ',',
        value_parser = parse_system,
        default_value = "erp,mes,qms,wms"
    )]
    pub systems: Vec<System>,
    /// Master data (YAML: plants, materials, BOMs, routings, stock, open periods) instead of
    /// generated data.
    #[arg(long, value_name = "plant.yaml", conflicts_with = "plants")]
    pub data: Option<PathBuf>,
    /// Seed of the generated master data and of every chance decision.
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// Plants to generate master data for (3 lines and 8 finished materials each).
    #[arg(
        long,
        value_name = "PLANT,…",
        value_delimiter = ',',
        value_parser = parse_plant,
        default_value = "1000"
    )]
    pub plants: Vec<PlantId>,
    /// Port of a system (default erp=8101 mes=8102 qms=8103 wms=8104; 0 picks a free port).
    /// Repeat or separate with commas.
    #[arg(
        long = "port",
        value_name = "SYSTEM=PORT",
        value_delimiter = ',',
        value_parser = parse_port
    )]
    pub ports: Vec<(System, u16)>,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Where a system delivers its events (CloudEvents over HTTP). Repeat or separate with
    /// commas.
    #[arg(
        long = "sut-ingress",
        value_name = "SYSTEM=URL",
        value_delimiter = ',',
        value_parser = parse_ingress
    )]
    pub sut_ingress: Vec<(System, String)>,
    /// The API a system speaks to the middleware, for every plant: `erp=s4hana`,
    /// `erp=s4hana@2408` (vendor dialects are served under each plant's base URL
    /// `/plant/{plant}`). Default: andon's own API.
    #[arg(
        long = "dialect",
        value_name = "SYSTEM=DIALECT[@RELEASE]",
        value_delimiter = ',',
        value_parser = parse_dialect
    )]
    pub dialects: Vec<(System, andon_simulators::dialect::Binding)>,
    /// Honour `Idempotency-Key` headers (and S/4HANA's repeatable requests).
    #[arg(long, value_name = "on|off", default_value = "on")]
    pub idempotency: Switch,
    /// Require OAuth bearer tokens (`POST /oauth/token`, client `andon` / `andon-secret`).
    #[arg(long, value_name = "on|off", default_value = "off")]
    pub auth: Switch,
    /// Also serve an OpenAPI 3.x document's response examples, checking request bodies
    /// against its schemas (default ports 8105, 8106, …). Repeatable.
    #[arg(long = "stub", value_name = "FILE[=PORT]", value_parser = parse_stub)]
    pub stubs: Vec<StubSpec>,
    /// Write the history (every request, effect, event and delivery) as JSON Lines to FILE
    /// on shutdown.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// `--admin-token`.
    #[command(flatten)]
    pub admin: andon_simulators::standalone::AdminTokenArg,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

impl Switch {
    fn on(self) -> bool {
        self == Switch::On
    }
}

fn parse_plant(s: &str) -> Result<PlantId, String> {
    PlantId::parse(s.trim()).map_err(|e| e.to_string())
}

fn split_pair<'a>(s: &'a str, what: &str) -> Result<(System, &'a str), String> {
    let (system, value) = s.split_once('=').ok_or_else(|| {
        format!(
            "{s:?}: expected SYSTEM={what}, such as erp={}",
            example(what)
        )
    })?;
    Ok((parse_system(system)?, value.trim()))
}

fn example(what: &str) -> &'static str {
    match what {
        "PORT" => "8101",
        _ => "http://127.0.0.1:9000/events/erp",
    }
}

fn parse_port(s: &str) -> Result<(System, u16), String> {
    let (system, port) = split_pair(s, "PORT")?;
    let port = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port: expected 0 to 65535"))?;
    Ok((system, port))
}

fn parse_dialect(s: &str) -> Result<(System, andon_simulators::dialect::Binding), String> {
    let (system, text) = split_pair(s, "DIALECT")?;
    let binding: andon_simulators::dialect::Binding = text
        .parse()
        .map_err(|e: andon_simulators::dialect::DialectError| e.to_string())?;
    binding.check_system(system).map_err(|e| e.to_string())?;
    Ok((system, binding))
}

/// `erp=DIALECT[@RELEASE]`: a dialect of the ERP.
pub(crate) fn parse_erp_dialect(s: &str) -> Result<andon_simulators::dialect::Binding, String> {
    match parse_dialect(s)? {
        (System::Erp, b) => Ok(b),
        (other, _) => Err(format!("only the ERP speaks a vendor dialect, not {other}")),
    }
}

fn parse_ingress(s: &str) -> Result<(System, String), String> {
    let (system, url) = split_pair(s, "URL")?;
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok((system, url.to_string())),
        _ => Err(format!("{url:?} is not an http(s) URL")),
    }
}

fn parse_stub(s: &str) -> Result<StubSpec, String> {
    if let Some((file, port)) = s.rsplit_once('=')
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        let port = port
            .parse()
            .map_err(|_| format!("{port:?} is not a port: expected 0 to 65535"))?;
        return Ok(StubSpec {
            file: PathBuf::from(file),
            port: Some(port),
        });
    }
    Ok(StubSpec {
        file: PathBuf::from(s),
        port: None,
    })
}

impl ServeArgs {
    /// The library options these arguments describe.
    pub fn options(&self) -> ServeOptions {
        let master = match &self.data {
            Some(path) => MasterSource::File(path.clone()),
            None => MasterSource::Generated(self.plants.clone()),
        };
        let ports: BTreeMap<System, u16> = self.ports.iter().copied().collect();
        let ingress: BTreeMap<System, String> = self.sut_ingress.iter().cloned().collect();
        for system in ports.keys().chain(ingress.keys()) {
            if !self.systems.contains(system) {
                tracing::warn!(%system, "a port or ingress is given for a system not served (--systems)");
            }
        }
        ServeOptions {
            systems: self.systems.clone(),
            master,
            seed: self.seed,
            bind: self.bind,
            ports,
            ingress,
            idempotency: self.idempotency.on(),
            dialects: self.dialects.iter().cloned().collect(),
            auth: self.auth.on(),
            stubs: self.stubs.clone(),
            history: self.history.clone(),
            admin_token: self.admin.resolve("andon", self.bind),
        }
    }
}

/// Runs `andon serve` until Ctrl-C (or SIGTERM); returns the exit code.
pub async fn run(args: ServeArgs) -> u8 {
    let options = args.options();
    let auth = options.auth;
    let master = match &options.master {
        MasterSource::File(p) => format!("master data {}", p.display()),
        MasterSource::Generated(plants) => format!(
            "master data generated for plant{} {}",
            if plants.len() == 1 { "" } else { "s" },
            plants
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let seed = options.seed;
    let stop = andon_simulators::server::shutdown_signal();
    let running = match options.start().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("andon serve: {e}");
            return if e.is_usage() {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            };
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "andon serve: seed {seed}, {master}");
    for e in running.endpoints() {
        let _ = writeln!(out, "{:<5} {}", e.name, e.url);
        if e.system.is_some() {
            let _ = writeln!(out, "      openapi      {}/openapi.json", e.url);
            let _ = writeln!(out, "      conformance  {}/_andon/conformance", e.url);
            if auth {
                let _ = writeln!(
                    out,
                    "      token        {}/oauth/token (client andon / andon-secret)",
                    e.url
                );
            }
        }
        let _ = writeln!(out, "      {}", e.detail);
    }
    let _ = writeln!(out, "ready (Ctrl-C stops)");
    let _ = out.flush();
    drop(out);

    match running.run_until(stop).await {
        Ok(summary) => {
            let mut out = std::io::stdout().lock();
            match &summary.history_file {
                Some(f) => {
                    let _ = writeln!(
                        out,
                        "stopped: {} history records written to {}",
                        summary.records,
                        f.display()
                    );
                }
                None => {
                    let _ = writeln!(out, "stopped: {} history records", summary.records);
                }
            }
            let _ = out.flush();
            EXIT_OK
        }
        Err(e) => {
            eprintln!("andon serve: {e}");
            EXIT_FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn serve(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let mut all = vec!["andon", "serve"];
        all.extend_from_slice(args);
        Cli::try_parse_from(all).map(|c| match c.command {
            Command::Serve(a) => a,
            other => panic!("parsed as another command: {other:?}"),
        })
    }

    #[test]
    fn defaults_serve_all_four_systems_on_their_ports() {
        let o = serve(&[]).unwrap().options();
        assert_eq!(o, ServeOptions::default());
        assert_eq!(o.port_of(System::Qms), 8103);
    }

    #[test]
    fn ports_ingress_and_stubs_parse() {
        let a = serve(&[
            "--systems",
            "ERP,wms",
            "--port",
            "erp=0,WMS=9104",
            "--sut-ingress",
            "erp=http://localhost:9000/events/erp",
            "--stub",
            "api.yaml",
            "--stub",
            "vendor=v2.json=8110",
            "--idempotency",
            "off",
        ])
        .unwrap();
        let o = a.options();
        assert_eq!(o.systems, [System::Erp, System::Wms]);
        assert_eq!(o.port_of(System::Erp), 0);
        assert_eq!(o.port_of(System::Wms), 9104);
        assert_eq!(o.ingress[&System::Erp], "http://localhost:9000/events/erp");
        assert_eq!(o.stubs[0].port, None);
        assert_eq!(o.stubs[1].file, PathBuf::from("vendor=v2.json"));
        assert_eq!(o.stubs[1].port, Some(8110));
        assert!(!o.idempotency);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["--systems", "crm"][..],
            &["--port", "erp:8101"],
            &["--port", "erp=99999"],
            &["--sut-ingress", "mes=ftp://x"],
            &["--plants", "10000"],
            &["--data", "plant.yaml", "--plants", "1000"],
            &["--auth", "maybe"],
        ] {
            let e = serve(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
        }
    }
}
