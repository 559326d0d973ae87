# Sourced by the bench scripts: `apt_install PACKAGE...` installs Debian packages, as root or
# through sudo, refreshing the package lists once when the first try fails. Its status is
# apt-get's; the caller says what is missing.
apt_install() {
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get install -y "$@" >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y "$@" >&2; }
}
