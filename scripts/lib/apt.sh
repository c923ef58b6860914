# Debian packages for the scripts here (sourced). One install runs at a time: the lanes of
# scripts/real-stack-suites.sh can need packages at the same moment on a fresh machine, and a
# second apt-get fails at once ("Could not get lock /var/lib/apt/lists/lock") instead of waiting.

# apt_install [--with-recommends] PACKAGE...: installs those of PACKAGE not installed yet (checked
# again once the lock is ours, so a package another script installed meanwhile is not fetched
# twice), waiting up to 10 minutes for an install already under way. apt's output is shown only
# when it fails.
apt_install() {
  local recommends=--no-install-recommends need=() p fd status=0 out
  if [ "${1:-}" = --with-recommends ]; then recommends=--install-recommends; shift; fi
  exec {fd}>/tmp/tfk8s-apt.lock
  if ! flock -w 600 "$fd"; then
    echo "apt_install: another install held /tmp/tfk8s-apt.lock for 10 minutes" >&2
    exec {fd}>&-
    return 1
  fi
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    out=$(mktemp)
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$recommends" "${need[@]}"; } \
      > "$out" 2>&1 < /dev/null || { status=$?; tail -20 "$out" >&2; }
    rm -f "$out"
  fi
  exec {fd}>&-
  return "$status"
}
