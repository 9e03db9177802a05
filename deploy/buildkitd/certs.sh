#!/usr/bin/env bash
# Certificates for buildkitd's mutual TLS: a CA, the daemon's certificate
# for the names/addresses clients dial, and one client certificate, the
# build step's. Each directory holds ca.crt, tls.crt and tls.key, the keys
# of a Kubernetes TLS Secret, so it becomes one as it is:
#
#   deploy/buildkitd/certs.sh OUT buildkitd.slipway.svc [MORE_NAMES_OR_IPS...]
#   kubectl -n slipway create secret generic buildkitd-tls --from-file=OUT/server
#   kubectl -n slipway-builds create secret generic buildkit-client-tls --from-file=OUT/client
#
# The CA key stays in OUT/ca (keep it off the cluster). A second run keeps
# what exists when the daemon's certificate already names every host
# asked for, else it issues a new daemon certificate from the same CA.
# Needs openssl. Certificates last DAYS (default 825) days.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OUT_DIR HOST [HOST...]" >&2; exit 2; }
OUT=$1; shift
DAYS=${DAYS:-825}
umask 077
mkdir -p "$OUT/ca" "$OUT/server" "$OUT/client"

san=""
for h in "$@"; do
	case $h in
	*[!0-9.]* ) san+="${san:+,}DNS:$h" ;;
	*) san+="${san:+,}IP:$h" ;;
	esac
done

if [ ! -s "$OUT/ca/ca.key" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$DAYS" \
		-subj "/CN=slipway buildkitd CA" -keyout "$OUT/ca/ca.key" -out "$OUT/ca/ca.crt" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	rm -f "$OUT/server/tls.crt" "$OUT/client/tls.crt"
fi

# issue DIR CN EXT: a P-256 key and a certificate signed by the CA.
issue() {
	local dir=$1 cn=$2 ext=$3
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
		-keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
	openssl x509 -req -in "$dir/tls.csr" -CA "$OUT/ca/ca.crt" -CAkey "$OUT/ca/ca.key" -CAcreateserial \
		-days "$DAYS" -extfile <(printf '%s\n' "$ext") -out "$dir/tls.crt" 2>/dev/null
	rm -f "$dir/tls.csr"
	cp "$OUT/ca/ca.crt" "$dir/ca.crt"
}

have_sans() {
	[ -s "$OUT/server/tls.crt" ] || return 1
	local text h
	text=$(openssl x509 -in "$OUT/server/tls.crt" -noout -ext subjectAltName 2>/dev/null) || return 1
	for h in "$@"; do
		case $h in
		*[!0-9.]*) grep -q "DNS:$h\(,\|$\)" <<<"$text" || return 1 ;;
		*) grep -q "IP Address:$h\(,\|$\)" <<<"$text" || return 1 ;;
		esac
	done
}

if ! have_sans "$@"; then
	issue "$OUT/server" buildkitd "$(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature' "$san")"
fi
if [ ! -s "$OUT/client/tls.crt" ]; then
	issue "$OUT/client" slipway-build-step "$(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature')"
fi
chmod 0644 "$OUT"/server/ca.crt "$OUT"/client/ca.crt "$OUT"/server/tls.crt "$OUT"/client/tls.crt
echo "$OUT"
