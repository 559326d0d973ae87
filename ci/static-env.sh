# Sourced by ci/test.sh and ci/images.sh: build for the host's own target with a static C
# runtime, so that the test binaries' `andon` can go into a FROM scratch image as it is.
# With an explicit target, the flag applies to the binaries only, not to build scripts
# and proc-macros.
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) export CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu
                export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" ;;
  Linux-aarch64) export CARGO_BUILD_TARGET=aarch64-unknown-linux-gnu
                 export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static" ;;
  *) echo "ci/static-env.sh: no static build for $(uname -s)-$(uname -m); container images need Linux" >&2 ;;
esac
