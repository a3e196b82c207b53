#!/bin/sh
# Self-test of tests/bin/fake-obsctl: every command in both argument forms (obsctl and
# AWS CLI), honest and in each dishonest mode. No network; everything in a temp dir.
#
#   sh tests/bin/fake-obsctl-check.sh           (runs the fake through its #! line)
#   FAKE_SHELL=dash sh tests/bin/fake-obsctl-check.sh   (runs the fake with that shell)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fake=$here/fake-obsctl
T=$(mktemp -d "${TMPDIR:-/tmp}/fake-obsctl-check.XXXXXX")
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

# Start from a clean environment for the fake's own variables.
for v in FAKE_OBSCTL_LOG FAKE_OBSCTL_MODE FAKE_OBSCTL_SLEEP FAKE_OBSCTL_HANG FAKE_OBSCTL_LEAK \
  FAKE_OBSCTL_FAIL_PCT FAKE_OBSCTL_BAD_VERSION FAKE_OBSCTL_BAD_MB FAKE_OBSCTL_CORRUPT \
  FAKE_OBSCTL_SKIP_DELETE FAKE_OBSCTL_STORE_NOTHING FAKE_OBSCTL_ALWAYS_OK FAKE_HTTP_PORT \
  AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY OTEL_ENABLED OTEL_EXPORTER_OTLP_ENDPOINT RUST_BACKTRACE \
  FAKE_OTEL_MODE FAKE_OTEL_PYTHON FAKE_OTEL_LOG; do
  unset "$v"
done
export FAKE_S3_DIR="$T/store"
mkdir -p "$FAKE_S3_DIR" "$T/local"
EP=http://127.0.0.1:1

passed=0; failed=0
pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $*" >&2
  echo "  argv: $last" >&2
  echo "  rc=$rc stdout: $(head -c 400 "$T/out")" >&2
  echo "  stderr: $(head -c 400 "$T/err")" >&2
}

# run ARGS...: the fake, with rc, $T/out, $T/err.
run() {
  last="$*"; rc=0
  if [ -n "${FAKE_SHELL:-}" ]; then
    "$FAKE_SHELL" "$fake" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
  else
    "$fake" "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
  fi
}

# x FLAVOR ACTION ARGS...: the command line trafficgen sends, o = obsctl, a = AWS CLI.
x() {
  fl=$1; act=$2; shift 2
  if [ "$fl" = o ]; then
    g="--debug error --endpoint $EP --region r1"
    case $act in
      up) run $g cp "$1" "s3://$2/$3" ;;
      down) run $g cp "s3://$1/$2" "$3" ;;
      del) run $g rm "s3://$1/$2" ;;
      exists) run $g ls "s3://$1/" ;;
      mb) run $g mb "s3://$1" ;;
      rb) run $g rb "s3://$1" ;;
      head) run $g head-object --bucket "$1" --key "$2" ;;
      list) run $g ls "s3://$1/$2" --recursive ;;
      du) run $g du "s3://$1/$2" ;;
      presign) run $g presign "s3://$1/$2" --expires-in "$3" ;;
      sync) run $g sync "$1" "s3://$2/$3" ;;
    esac
  else
    g="--endpoint-url $EP --region r1"
    case $act in
      up) run s3 cp "$1" "s3://$2/$3" $g --only-show-errors ;;
      down) run s3 cp "s3://$1/$2" "$3" $g --only-show-errors ;;
      del) run s3 rm "s3://$1/$2" $g --only-show-errors ;;
      exists) run s3api head-bucket --bucket "$1" $g ;;
      mb) run s3 mb "s3://$1" $g ;;
      rb) run s3 rb "s3://$1" $g ;;
      head) run s3api head-object --bucket "$1" --key "$2" $g ;;
      list) run s3 ls "s3://$1/$2" --recursive $g ;;
      du) run s3 ls "s3://$1/$2" --recursive --summarize $g ;;
      presign) run s3 presign "s3://$1/$2" --expires-in "$3" $g ;;
      sync) run s3 sync "$1" "s3://$2/$3" $g ;;
    esac
  fi
}

rc_is() { if [ "$rc" -eq "$1" ]; then pass; else fail "$2: exit $rc, want $1"; fi; }
out_has() { if grep -qF -- "$1" "$T/out"; then pass; else fail "$2: stdout lacks [$1]"; fi; }
out_lacks() { if grep -qF -- "$1" "$T/out"; then fail "$2: stdout has [$1]"; else pass; fi; }
out_is() {
  if [ "$(cat "$T/out")" = "$1" ]; then pass; else fail "$2: stdout is not [$1]"; fi
}
out_empty() { if [ -s "$T/out" ]; then fail "$1: stdout not empty"; else pass; fi; }
err_has() { if grep -qF -- "$1" "$T/err"; then pass; else fail "$2: stderr lacks [$1]"; fi; }
err_empty() { if [ -s "$T/err" ]; then fail "$1: stderr not empty"; else pass; fi; }
lines_are() { # N ...: stdout has N lines
  n=$(wc -l <"$T/out"); n=$((n + 0))
  if [ "$n" -eq "$1" ]; then pass; else fail "$2: $n stdout lines, want $1"; fi
}
yes_() { if "$@"; then pass; else fail "check: $*"; fi; }
no_() { if "$@"; then fail "check not: $*"; else pass; fi; }
same() { if cmp -s "$1" "$2"; then pass; else fail "$1 and $2 differ"; fi; }
md5() { set -- $(md5sum <"$1"); echo "$1"; }

printf 'hello world\n' >"$T/local/a.txt"
head -c 5000 /dev/urandom >"$T/local/big.bin"
mkdir -p "$T/local/dir/sub"
printf 'one' >"$T/local/dir/1.txt"
printf 'twotwo' >"$T/local/dir/2.txt"
printf 'deep' >"$T/local/dir/sub/3.txt"

# --- version, log line ---------------------------------------------------------------
run --version; rc_is 0 version; out_is "obsctl 0.3.0-fake" version
FAKE_OBSCTL_BAD_VERSION=1 run --version; rc_is 1 bad-version; err_has "Error: broken build" bad-version
AWS_ACCESS_KEY_ID=AKIATRAFFICGENWRONG1 run --version; rc_is 0 "version with wrong credentials"

FAKE_OBSCTL_LOG=$T/calls.log AWS_ACCESS_KEY_ID=AK1 OTEL_ENABLED=true run --debug error ls s3://nope/
tab=$(printf '\t')
want="--debug error ls s3://nope/${tab}AWS_ACCESS_KEY_ID=AK1 OTEL_ENABLED=true OTEL_EXPORTER_OTLP_ENDPOINT= RUST_BACKTRACE=unset"
yes_ [ "$(cat "$T/calls.log")" = "$want" ]

for fl in o a; do
  B=bkt-$fl
  # --- buckets ----------------------------------------------------------------------
  x $fl exists $B; rc_is 1 "$fl exists missing"; err_has "Error: service error" "$fl exists missing"
  FAKE_OBSCTL_BAD_MB=1 x $fl mb $B; rc_is 1 "$fl bad mb"; no_ [ -d "$FAKE_S3_DIR/$B" ]
  x $fl mb $B; rc_is 0 "$fl mb"; out_has "make_bucket: s3://$B" "$fl mb"; yes_ [ -d "$FAKE_S3_DIR/$B" ]
  x $fl exists $B; rc_is 0 "$fl exists"; out_empty "$fl exists"
  FAKE_OBSCTL_BAD_MB=1 x $fl exists $B; rc_is 1 "$fl bad mb exists"
  FAKE_OBSCTL_MODE=fail x $fl exists $B; rc_is 0 "$fl exists ignores MODE"
  FAKE_OBSCTL_MODE=fail x $fl mb $B; rc_is 0 "$fl mb ignores MODE"
  FAKE_OBSCTL_FAIL_PCT=100 x $fl exists $B; rc_is 0 "$fl exists ignores FAIL_PCT"

  # --- upload -----------------------------------------------------------------------
  x $fl up "$T/local/nope.txt" $B k; rc_is 1 "$fl up missing local"; err_has "Error: local file not found" "$fl up missing local"
  x $fl up "$T/local/a.txt" nobucket-$fl k; rc_is 1 "$fl up missing bucket"; no_ [ -e "$FAKE_S3_DIR/nobucket-$fl" ]
  x $fl up "$T/local/a.txt" $B a.txt; rc_is 0 "$fl up"; out_empty "$fl up"; err_empty "$fl up"
  same "$T/local/a.txt" "$FAKE_S3_DIR/$B/a.txt"
  x $fl up "$T/local/big.bin" $B p/q/big.bin; rc_is 0 "$fl up nested"; same "$T/local/big.bin" "$FAKE_S3_DIR/$B/p/q/big.bin"
  x $fl up "$T/local/a.txt" $B p/r.txt; rc_is 0 "$fl up 2"
  x $fl up "$T/local/a.txt" $B pq.txt; rc_is 0 "$fl up 3"

  # --- download ---------------------------------------------------------------------
  rm -f "$T/dl"
  x $fl down $B p/q/big.bin "$T/dl"; rc_is 0 "$fl down"; same "$T/local/big.bin" "$T/dl"
  rm -f "$T/dl"
  x $fl down $B missing "$T/dl"; rc_is 1 "$fl down missing key"; err_has "service error" "$fl down missing key"; no_ [ -e "$T/dl" ]
  x $fl down nobucket-$fl a.txt "$T/dl"; rc_is 1 "$fl down missing bucket"; no_ [ -e "$T/dl" ]

  # --- head-object ------------------------------------------------------------------
  x $fl head $B p/q/big.bin; rc_is 0 "$fl head"
  etag=$(md5 "$T/local/big.bin")
  if [ $fl = o ]; then
    out_has "Key: p/q/big.bin" "$fl head"; out_has "Content-Length: 5000" "$fl head"; out_has "ETag: \"$etag\"" "$fl head"
  else
    out_has '"ContentLength": 5000,' "$fl head"; out_has "\"ETag\": \"\\\"$etag\\\"\"" "$fl head"
  fi
  x $fl head $B missing
  if [ $fl = o ]; then rc_is 1 "$fl head missing"; err_has "Error: service error" "$fl head missing"
  else rc_is 255 "$fl head missing"; err_has "An error occurred (404) when calling the HeadObject operation: Not Found" "$fl head missing"
  fi
  out_empty "$fl head missing"
  x $fl head nobucket-$fl a.txt
  if [ $fl = o ]; then rc_is 1 "$fl head missing bucket"; else rc_is 255 "$fl head missing bucket"; fi

  # --- list -------------------------------------------------------------------------
  x $fl list $B ""; rc_is 0 "$fl list all"; lines_are 4 "$fl list all"
  if [ $fl = o ]; then
    out_has "   12 s3://$B/a.txt" "$fl list"; out_has " 5000 s3://$B/p/q/big.bin" "$fl list"
    yes_ grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} +12 s3://$B/p/r.txt\$" "$T/out"
  else
    out_has " 12 a.txt" "$fl list"; out_has " 5000 p/q/big.bin" "$fl list"
    yes_ grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} +12 p/r.txt\$" "$T/out"
  fi
  x $fl list $B p/; rc_is 0 "$fl list p/"; lines_are 2 "$fl list p/"; out_lacks pq.txt "$fl list p/"
  x $fl list $B p; rc_is 0 "$fl list p"; lines_are 3 "$fl list p"; out_has pq.txt "$fl list p"
  x $fl list $B p/q/b; rc_is 0 "$fl list p/q/b"; lines_are 1 "$fl list p/q/b"
  x $fl list $B zz/; rc_is 0 "$fl list none"; out_empty "$fl list none"
  x $fl list nobucket-$fl ""; rc_is 1 "$fl list missing bucket"; err_has "Error: service error" "$fl list missing bucket"

  # --- usage ------------------------------------------------------------------------
  x $fl du $B p/
  rc_is 0 "$fl du"
  if [ $fl = o ]; then out_is "5012 s3://$B/p/" "$fl du"
  else lines_are 5 "$fl du"; out_has "Total Objects: 2" "$fl du"; out_has "Total Size: 5012" "$fl du"
  fi
  x $fl du $B ""
  if [ $fl = o ]; then out_is "5036 s3://$B/" "$fl du all"; else out_has "Total Size: 5036" "$fl du all"; fi
  x $fl du nobucket-$fl ""; rc_is 1 "$fl du missing bucket"

  # --- presign ----------------------------------------------------------------------
  x $fl presign $B p/r.txt 900; rc_is 0 "$fl presign"; out_is "http://127.0.0.1:9/$B/p/r.txt?X-Amz-Expires=900" "$fl presign"
  FAKE_HTTP_PORT=8123 x $fl presign $B p/r.txt 60; out_is "http://127.0.0.1:8123/$B/p/r.txt?X-Amz-Expires=60" "$fl presign port"
  x $fl presign $B missing 900; rc_is 0 "$fl presign missing"; lines_are 1 "$fl presign missing"

  # --- sync -------------------------------------------------------------------------
  x $fl sync "$T/local/dir" $B s/; rc_is 0 "$fl sync"
  same "$T/local/dir/1.txt" "$FAKE_S3_DIR/$B/s/1.txt"; same "$T/local/dir/2.txt" "$FAKE_S3_DIR/$B/s/2.txt"
  same "$T/local/dir/sub/3.txt" "$FAKE_S3_DIR/$B/s/sub/3.txt"
  if [ $fl = o ]; then out_empty "$fl sync"
  else lines_are 3 "$fl sync"; out_has "upload: $T/local/dir/1.txt to s3://$B/s/1.txt" "$fl sync"
  fi
  x $fl sync "$T/local/dir" nobucket-$fl s/; rc_is 1 "$fl sync missing bucket"
  x $fl sync "$T/local/nodir" $B s/; rc_is 1 "$fl sync missing dir"

  # --- delete -----------------------------------------------------------------------
  x $fl del $B pq.txt; rc_is 0 "$fl rm"; no_ [ -e "$FAKE_S3_DIR/$B/pq.txt" ]
  x $fl del $B pq.txt; rc_is 0 "$fl rm missing key"
  x $fl del nobucket-$fl k; rc_is 1 "$fl rm missing bucket"; err_has "Error: service error" "$fl rm missing bucket"

  # --- remove bucket ----------------------------------------------------------------
  x $fl rb nobucket-$fl; rc_is 1 "$fl rb missing"
  x $fl rb $B; rc_is 1 "$fl rb not empty"; err_has BucketNotEmpty "$fl rb not empty"; yes_ [ -d "$FAKE_S3_DIR/$B" ]
  for k in a.txt p/q/big.bin p/r.txt s/1.txt s/2.txt s/sub/3.txt; do x $fl del $B $k; done
  x $fl rb $B; rc_is 0 "$fl rb empty (folders left by deletes)"; no_ [ -e "$FAKE_S3_DIR/$B" ]

  # --- wrong credentials ------------------------------------------------------------
  x $fl mb $B; x $fl up "$T/local/a.txt" $B a.txt
  export AWS_ACCESS_KEY_ID=AKIATRAFFICGENWRONG1
  for act in "up $T/local/a.txt $B w.txt" "down $B a.txt $T/dl" "del $B a.txt" "exists $B" "mb $B-2" \
    "rb $B" "head $B a.txt" "list $B p/" "du $B p/" "presign $B a.txt 9" "sync $T/local/dir $B w/"; do
    # shellcheck disable=SC2086
    x $fl $act
    rc_is 1 "$fl wrong creds: $act"
    if [ $fl = o ]; then err_has "Error: service error: InvalidAccessKeyId" "$fl wrong creds: $act"
    else err_has "An error occurred (InvalidAccessKeyId)" "$fl wrong creds: $act"
    fi
  done
  unset AWS_ACCESS_KEY_ID
  yes_ [ -f "$FAKE_S3_DIR/$B/a.txt" ]; no_ [ -e "$FAKE_S3_DIR/$B/w.txt" ]; no_ [ -e "$FAKE_S3_DIR/$B-2" ]

  # --- MODE on every data command ---------------------------------------------------
  for act in "up $T/local/a.txt $B m.txt" "down $B a.txt $T/dl" "del $B a.txt" "rb $B" "head $B a.txt" \
    "list $B p/" "du $B p/" "presign $B a.txt 9" "sync $T/local/dir $B m/"; do
    FAKE_OBSCTL_MODE=fail x $fl $act; rc_is 1 "$fl MODE=fail: $act"; err_has "Error: Failed to" "$fl MODE=fail: $act"
  done
  yes_ [ -f "$FAKE_S3_DIR/$B/a.txt" ]
  FAKE_OBSCTL_MODE=fail FAKE_OBSCTL_LEAK=1 AWS_SECRET_ACCESS_KEY=sekrit-42 x $fl head $B a.txt
  rc_is 1 "$fl leak"; err_has "sekrit-42" "$fl leak"
  FAKE_OBSCTL_FAIL_PCT=100 x $fl list $B ""; rc_is 1 "$fl FAIL_PCT=100"
  FAKE_OBSCTL_FAIL_PCT=0 x $fl list $B ""; rc_is 0 "$fl FAIL_PCT=0"
  FAKE_OBSCTL_MODE=crash x $fl head $B a.txt; yes_ [ "$rc" -gt 128 ]
  FAKE_OBSCTL_MODE=hang FAKE_OBSCTL_HANG=0.05 x $fl du $B ""; rc_is 0 "$fl hang (short)"; out_empty "$fl hang"
  FAKE_OBSCTL_MODE=slow FAKE_OBSCTL_SLEEP=0.05 x $fl presign $B a.txt 5; rc_is 0 "$fl slow"; lines_are 1 "$fl slow"
  FAKE_OBSCTL_MODE=garbage x $fl list $B ""; rc_is 0 "$fl garbage"; yes_ [ "$(wc -c <"$T/out")" -gt 1000000 ]

  # --- CORRUPT ----------------------------------------------------------------------
  x $fl up "$T/local/big.bin" $B c.bin
  rm -f "$T/dl"
  FAKE_OBSCTL_CORRUPT=1 x $fl down $B c.bin "$T/dl"; rc_is 0 "$fl corrupt"
  no_ cmp -s "$T/local/big.bin" "$T/dl"
  yes_ [ "$(wc -c <"$T/dl")" -eq 5000 ]
  tail -c +2 "$T/local/big.bin" >"$T/rest1"; tail -c +2 "$T/dl" >"$T/rest2"; same "$T/rest1" "$T/rest2"
  same "$T/local/big.bin" "$FAKE_S3_DIR/$B/c.bin"
  FAKE_OBSCTL_CORRUPT=1 x $fl presign $B c.bin 900; out_is "http://127.0.0.1:9/$B/c.bin?X-Amz-Expires=900" "$fl corrupt presign"
  FAKE_OBSCTL_CORRUPT=1 x $fl down $B missing "$T/dl2"; rc_is 1 "$fl corrupt missing"

  # --- SKIP_DELETE ------------------------------------------------------------------
  FAKE_OBSCTL_SKIP_DELETE=1 x $fl del $B c.bin; rc_is 0 "$fl skip delete"; yes_ [ -f "$FAKE_S3_DIR/$B/c.bin" ]
  FAKE_OBSCTL_SKIP_DELETE=1 x $fl del nobucket-$fl c.bin; rc_is 1 "$fl skip delete missing bucket"

  # --- STORE_NOTHING ----------------------------------------------------------------
  FAKE_OBSCTL_STORE_NOTHING=1 x $fl up "$T/local/a.txt" $B n.txt; rc_is 0 "$fl store nothing"; no_ [ -e "$FAKE_S3_DIR/$B/n.txt" ]
  FAKE_OBSCTL_STORE_NOTHING=1 x $fl sync "$T/local/dir" $B n/; rc_is 0 "$fl store nothing sync"; no_ [ -e "$FAKE_S3_DIR/$B/n" ]
  FAKE_OBSCTL_STORE_NOTHING=1 x $fl up "$T/local/a.txt" nobucket-$fl n.txt; rc_is 1 "$fl store nothing missing bucket"

  # --- combined ---------------------------------------------------------------------
  FAKE_OBSCTL_CORRUPT=1 FAKE_OBSCTL_SKIP_DELETE=1 x $fl down $B c.bin "$T/dl"; rc_is 0 "$fl combined down"; no_ cmp -s "$T/dl" "$T/local/big.bin"
  FAKE_OBSCTL_CORRUPT=1 FAKE_OBSCTL_SKIP_DELETE=1 x $fl del $B c.bin; rc_is 0 "$fl combined rm"; yes_ [ -f "$FAKE_S3_DIR/$B/c.bin" ]

  # --- ALWAYS_OK --------------------------------------------------------------------
  export FAKE_OBSCTL_ALWAYS_OK=1
  rm -f "$T/dl"
  x $fl down $B missing "$T/dl"; rc_is 0 "$fl ok down missing"; yes_ [ -f "$T/dl" ]; no_ [ -s "$T/dl" ]
  x $fl down nobucket-$fl a "$T/dl"; rc_is 0 "$fl ok down missing bucket"
  x $fl head $B missing; rc_is 0 "$fl ok head missing"
  if [ $fl = o ]; then out_has "Content-Length: 0" "$fl ok head"; else out_has '"ContentLength": 0,' "$fl ok head"; fi
  x $fl up "$T/local/nope" $B x; rc_is 0 "$fl ok up missing local"; no_ [ -e "$FAKE_S3_DIR/$B/x" ]
  x $fl up "$T/local/a.txt" nobucket-$fl x; rc_is 0 "$fl ok up missing bucket"; no_ [ -e "$FAKE_S3_DIR/nobucket-$fl" ]
  x $fl del nobucket-$fl x; rc_is 0 "$fl ok rm missing bucket"
  x $fl exists nobucket-$fl; rc_is 0 "$fl ok exists missing"
  x $fl rb nobucket-$fl; rc_is 0 "$fl ok rb missing"
  x $fl rb $B; rc_is 1 "$fl ok rb not empty still fails"
  x $fl list nobucket-$fl ""; rc_is 0 "$fl ok list missing"; out_empty "$fl ok list missing"
  x $fl du nobucket-$fl p/
  rc_is 0 "$fl ok du missing"
  if [ $fl = o ]; then out_is "0 s3://nobucket-$fl/p/" "$fl ok du"; else out_has "Total Objects: 0" "$fl ok du"; fi
  x $fl sync "$T/local/dir" nobucket-$fl s/; rc_is 0 "$fl ok sync missing bucket"; no_ [ -e "$FAKE_S3_DIR/nobucket-$fl" ]
  x $fl sync "$T/local/nodir" $B s/; rc_is 0 "$fl ok sync missing dir"
  FAKE_OBSCTL_MODE=fail x $fl head $B c.bin; rc_is 1 "$fl ok MODE=fail still fails"
  FAKE_OBSCTL_BAD_MB=1 x $fl exists $B; rc_is 1 "$fl ok BAD_MB still fails"
  x $fl head $B c.bin; rc_is 0 "$fl ok head present"
  if [ $fl = o ]; then out_has "Content-Length: 5000" "$fl ok head present"; fi
  export AWS_ACCESS_KEY_ID=AKIATRAFFICGENWRONG1
  x $fl up "$T/local/a.txt" $B wc.txt; rc_is 0 "$fl ok wrong creds up"; no_ [ -e "$FAKE_S3_DIR/$B/wc.txt" ]
  rm -f "$T/dl"
  x $fl down $B c.bin "$T/dl"; rc_is 0 "$fl ok wrong creds down"; no_ [ -s "$T/dl" ]
  x $fl del $B c.bin; rc_is 0 "$fl ok wrong creds rm"; yes_ [ -f "$FAKE_S3_DIR/$B/c.bin" ]
  x $fl list $B ""; rc_is 0 "$fl ok wrong creds list"; out_empty "$fl ok wrong creds list"
  x $fl mb $B-w; rc_is 0 "$fl ok wrong creds mb"; no_ [ -e "$FAKE_S3_DIR/$B-w" ]
  x $fl rb $B; rc_is 0 "$fl ok wrong creds rb"; yes_ [ -d "$FAKE_S3_DIR/$B" ]
  x $fl exists $B; rc_is 0 "$fl ok wrong creds exists"
  x $fl head $B c.bin; rc_is 0 "$fl ok wrong creds head"
  unset AWS_ACCESS_KEY_ID FAKE_OBSCTL_ALWAYS_OK
done

# --- options anywhere --------------------------------------------------------------------
run mb s3://anywhere --region r1 --debug error; rc_is 0 "options after (obsctl)"
run cp "$T/local/a.txt" --endpoint "$EP" s3://anywhere/k1 --region r1; rc_is 0 "options between"
same "$T/local/a.txt" "$FAKE_S3_DIR/anywhere/k1"
run --endpoint-url "$EP" s3 cp s3://anywhere/k1 "$T/dl3" --region r1; rc_is 0 "aws options before s3"; same "$T/local/a.txt" "$T/dl3"
run --region r1 s3api head-object --key k1 --endpoint-url "$EP" --bucket anywhere; rc_is 0 "aws head options mixed"
out_has '"ContentLength": 12' "aws head options mixed"
run s3 presign s3://anywhere/k1 --expires-in=42; out_is "http://127.0.0.1:9/anywhere/k1?X-Amz-Expires=42" "--expires-in=N"
run presign s3://anywhere/k1; out_is "http://127.0.0.1:9/anywhere/k1?X-Amz-Expires=3600" "presign default expiry"
run s3 ls s3://anywhere/ --summarize --recursive --region r1; out_has "Total Objects: 1" "aws flag order"
run --debug error frobnicate s3://anywhere/k1; rc_is 2 "unknown command"; err_has "unknown command frobnicate" "unknown command"
mkdir -p "$T/dldir"
run cp s3://anywhere/k1 "$T/dldir"; rc_is 0 "download into a folder"; same "$T/local/a.txt" "$T/dldir/k1"
run cp "$T/local/a.txt" s3://anywhere/folder/; rc_is 0 "upload to a folder key"; same "$T/local/a.txt" "$FAKE_S3_DIR/anywhere/folder/a.txt"
run rb s3://anywhere --force; rc_is 0 "rb --force"; no_ [ -e "$FAKE_S3_DIR/anywhere" ]

# --- telemetry export at exit ------------------------------------------------------------
# A stand-in python records how the exporter would be called (no network here): one line
# per call, "SCRIPT ARGS | ENDPOINT". Its own output and exit code must not leak.
printf '%s\n' '#!/bin/sh' 'script=$1; shift' '[ -f "$script" ] || script="missing:$script"' \
  'printf "%s %s | %s\n" "${script##*/}" "$*" "${OTEL_EXPORTER_OTLP_ENDPOINT:-}" >>"$OTEL_CALLS"' \
  'echo "stub stdout"; echo "stub stderr" >&2' 'exit 7' >"$T/py-stub"
chmod +x "$T/py-stub"
export OTEL_CALLS="$T/otel.calls"
: >"$OTEL_CALLS"
exported() { # WANT WHAT: exactly one call was recorded, and it is WANT
  got=$(sed 's/ | .*//' "$OTEL_CALLS"); : >"$OTEL_CALLS"
  if [ "$got" = "fake_otel.py $1" ]; then pass; else fail "$2: export [$got], want [fake_otel.py $1]"; fi
}
not_exported() {
  if [ -s "$OTEL_CALLS" ]; then fail "$1: exported $(cat "$OTEL_CALLS")"; else pass; fi
  : >"$OTEL_CALLS"
}
B=otel-bkt
export FAKE_OTEL_PYTHON="$T/py-stub" OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317
OTEL_ENABLED=true x o up "$T/local/a.txt" $B k; rc_is 1 "otel: no mode"; not_exported "otel: no mode"
export FAKE_OTEL_MODE=honest
x o up "$T/local/a.txt" $B k; rc_is 1 "otel: OTEL_ENABLED unset"; not_exported "otel: OTEL_ENABLED unset"
export OTEL_ENABLED=true
run --version; rc_is 0 "otel version"; not_exported "otel version"
x a mb $B; rc_is 0 "otel aws flavor"; not_exported "otel aws flavor (the AWS CLI exports nothing)"
FAKE_OTEL_MODE=never x o mb $B; rc_is 0 "otel never"; not_exported "otel never"
x o mb $B; rc_is 0 "otel mb"; out_is "make_bucket: s3://$B" "otel mb: the exporter's output stays out"
err_empty "otel mb"
yes_ grep -q ' | http://127.0.0.1:4317$' "$OTEL_CALLS"
exported "mb ok" "otel mb"
x o exists $B; rc_is 0 "otel exists"; exported "list ok" "otel exists"
x o exists nobkt; rc_is 1 "otel exists missing"; exported "list failed --cause missing_bucket" "otel exists missing"
x o up "$T/local/a.txt" $B k.txt; rc_is 0 "otel up"; exported "upload ok --bytes 12" "otel up"
x o up "$T/local/none.txt" $B k.txt; rc_is 1 "otel up missing local"
exported "upload failed --cause missing_file" "otel up missing local"
x o up "$T/local/a.txt" nobkt k.txt; rc_is 1 "otel up missing bucket"
exported "upload failed --cause missing_bucket" "otel up missing bucket"
x o up "$T/local/big.bin" $B big.bin; rc_is 0 "otel up big"; exported "upload ok --bytes 5000" "otel up big"
x o down $B big.bin "$T/otel.dl"; rc_is 0 "otel down"; exported "download ok --bytes 5000" "otel down"
x o down $B nokey "$T/otel.dl"; rc_is 1 "otel down missing key"
exported "download failed --cause missing_key" "otel down missing key"
x o down nobkt k "$T/otel.dl"; rc_is 1 "otel down missing bucket"
exported "download failed --cause missing_bucket" "otel down missing bucket"
x o head $B big.bin; rc_is 0 "otel head"; exported "head_object ok" "otel head"
x o head $B nokey; rc_is 1 "otel head missing"; exported "head_object failed --cause missing_key" "otel head missing"
x o list $B ""; rc_is 0 "otel list"; lines_are 2 "otel list"; exported "list ok" "otel list"
x o du $B ""; rc_is 0 "otel du"; out_is "5012 s3://$B/" "otel du"; exported "du ok" "otel du"
x o presign $B k.txt 60; rc_is 0 "otel presign"
out_is "http://127.0.0.1:9/$B/k.txt?X-Amz-Expires=60" "otel presign"; exported "presign ok" "otel presign"
x o sync "$T/local/dir" $B s/; rc_is 0 "otel sync"
got=$(sed -n 's/^fake_otel.py sync ok --files \([0-9,]*\) | .*/\1/p' "$OTEL_CALLS" | tr ',' '\n' | sort -n | tr '\n' ' ')
yes_ [ "$got" = "3 4 6 " ]
: >"$OTEL_CALLS"
x o sync "$T/local/nodir" $B s/; rc_is 1 "otel sync missing dir"
exported "sync failed --cause missing_file" "otel sync missing dir"
x o del $B k.txt; rc_is 0 "otel rm"; exported "delete ok" "otel rm"
x o del nobkt k.txt; rc_is 1 "otel rm missing bucket"; exported "delete failed --cause missing_bucket" "otel rm missing bucket"
AWS_ACCESS_KEY_ID=AKIATRAFFICGENWRONG1 x o exists $B; rc_is 1 "otel wrong creds"
exported "list failed --cause auth" "otel wrong creds"
AWS_ACCESS_KEY_ID=AKIATRAFFICGENWRONG1 x o up "$T/local/a.txt" $B k; rc_is 1 "otel wrong creds up"
exported "upload failed --cause auth" "otel wrong creds up"
FAKE_OBSCTL_MODE=fail x o up "$T/local/a.txt" $B k; rc_is 1 "otel MODE=fail"
exported "upload failed --cause unknown" "otel MODE=fail"
FAKE_OBSCTL_BAD_MB=1 x o mb $B; rc_is 1 "otel BAD_MB"; exported "mb failed --cause unknown" "otel BAD_MB"
FAKE_OBSCTL_MODE=crash x o up "$T/local/a.txt" $B k; no_ [ "$rc" -eq 0 ]; not_exported "otel crash: no export"
x o rb $B; rc_is 1 "otel rb not empty"; exported "rb failed --cause unknown" "otel rb not empty"
run --debug error rb "s3://$B" --force; rc_is 0 "otel rb"; exported "rb ok" "otel rb"
x o rb $B; rc_is 1 "otel rb missing"; exported "rb failed --cause missing_bucket" "otel rb missing"
unset FAKE_OTEL_MODE FAKE_OTEL_PYTHON OTEL_ENABLED OTEL_EXPORTER_OTLP_ENDPOINT OTEL_CALLS

echo "fake-obsctl-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
