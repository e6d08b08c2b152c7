#!/usr/bin/env bash
# Makes the test-only C2PA signing credentials in tests/fixtures/c2pa/: a root CA and an end-entity
# certificate (ES256, P-256) with the key usage and EKU the C2PA certificate profile asks for.
# FOR TESTS ONLY: the private keys are public. Needs openssl.
set -euo pipefail
cd "$(dirname "$0")/../tests/fixtures/c2pa"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ca.key"
openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days 7300 -subj "/C=US/O=Fauxscope Test/OU=FOR TESTING ONLY/CN=Fauxscope Test Root CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" -out test-root-ca.pem
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ee.key"
openssl pkcs8 -topk8 -nocrypt -in "$tmp/ee.key" -out test-signer.key
openssl req -new -key "$tmp/ee.key" -subj "/C=US/O=Fauxscope Test/OU=FOR TESTING ONLY/CN=Fauxscope Test Signer" -out "$tmp/ee.csr"
cat > "$tmp/ee.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=emailProtection
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
openssl x509 -req -in "$tmp/ee.csr" -CA test-root-ca.pem -CAkey "$tmp/ca.key" -CAcreateserial \
  -days 7000 -sha256 -extfile "$tmp/ee.ext" -out "$tmp/ee.pem"
cat "$tmp/ee.pem" test-root-ca.pem > test-signer-chain.pem
rm -f test-root-ca.srl
