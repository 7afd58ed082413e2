#!/bin/sh
# One connection: an HTTP answer for anything but a WebSocket upgrade; a WebSocket greets
# the client, then echoes each (short, text) message back.
key=""
upgrade=""
while IFS= read -r line; do
  line=$(printf '%s' "$line" | tr -d '\r')
  [ -z "$line" ] && break
  case "$line" in
    [Ss]ec-[Ww]eb[Ss]ocket-[Kk]ey:*) key=$(printf '%s' "${line#*:}" | tr -d ' ') ;;
    [Uu]pgrade:*[Ww]eb[Ss]ocket*) upgrade=1 ;;
  esac
done
if [ -z "$upgrade" ]; then
  printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n'
  exit 0
fi
accept=$(printf '%s' "${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11" | sha1sum | cut -d' ' -f1 | xxd -r -p | base64)
printf 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n' "$accept"
send() {
  n=$(printf '%s' "$1" | wc -c)
  printf "\\201\\$(printf %03o "$n")%s" "$1"
}
send "hello from the container"
while :; do
  set -- $(dd bs=1 count=2 2>/dev/null | od -An -tu1)
  [ $# -eq 2 ] || exit 0
  [ $(( $1 & 15 )) -eq 8 ] && exit 0
  len=$(( $2 & 127 ))
  set -- $(dd bs=1 count=4 2>/dev/null | od -An -tu1)
  m0=$1 m1=$2 m2=$3 m3=$4
  i=0
  out=""
  for b in $(dd bs=1 count="$len" 2>/dev/null | od -An -tu1 -v); do
    case $((i % 4)) in 0) k=$m0 ;; 1) k=$m1 ;; 2) k=$m2 ;; *) k=$m3 ;; esac
    out="$out\\$(printf %03o $((b ^ k)))"
    i=$((i + 1))
  done
  send "echo: $(printf "$out")"
done
