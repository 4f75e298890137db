# Sourced by the CLI test scripts. expect "substring" ARGS...: `$kiln ARGS`
# must exit with status 1 and print one error containing the substring;
# otherwise `fails` is set to 1.
expect() {
  local want=$1; shift
  local err; err=$("$kiln" "$@" 2>&1 >/dev/null); local rc=$?
  if [ "$rc" -ne 1 ] || [[ "$err" != *"$want"* ]]; then
    echo "FAIL: kiln $* -> exit $rc: $err (wanted exit 1 and: $want)"; fails=1
  else
    echo "ok: kiln $* -> $err"
  fi
}
