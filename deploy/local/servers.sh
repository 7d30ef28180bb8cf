#!/usr/bin/env bash
# Local Kafka (KRaft, single node) + Elasticsearch for tests and CI, without Docker.
# Both are fetched from Maven Central (the only Java source reachable here), cached,
# and run on 127.0.0.1.  See deploy/local/README.md.
#
#   servers.sh fetch                          download into $SOCPIPE_CACHE only
#   servers.sh start [kafka|elasticsearch|all]  start (idempotent) and wait until healthy
#   servers.sh stop  [kafka|elasticsearch|all]  SIGTERM, then SIGKILL after a timeout
#   servers.sh status                         exit 0 if all running and healthy, else 3
#   servers.sh env                            print SOC_KAFKA_BOOTSTRAP=... / SOC_ES_URL=...
#
# SOCPIPE_SECURE=1 (any command): the secured pair, on their own ports and state dir by default
# (29092/29200, /tmp/socpipe-secure) so they never touch the plaintext servers: Kafka with a
# SASL_SSL (SCRAM-SHA-512) listener and a mutual-TLS listener (port + 2) and ACLs, Elasticsearch with
# security on (a file-realm user with a socpipe role) and TLS on HTTP and transport.  Certificates
# (one local CA) and the password are made with openssl under $STATE/tls on first start; `env`
# prints the SOC_* settings to use them.  For tests and development: the password is also passed
# once on the command line of kafka-storage (--add-scram) and elasticsearch-users.
#
# SOCPIPE_CLUSTER=1 (any command): a real cluster, on its own ports and state dir by default
# (/tmp/socpipe-cluster): three KRaft Kafka nodes, each broker and controller (node i: broker port
# SOC_KAFKA_PORT + 2(i-1), default 39092/39094/39096, controller port + 1), and a two-node
# Elasticsearch (node 1 master-eligible and data on SOC_ES_PORT, default 39200; node 2 data only on
# 39201).  Targets name one node too (kafka-2, elasticsearch-2); `kill TARGET` SIGKILLs it (fault
# tests), `start TARGET...` brings it back with its data.  `env` prints the production profile
# (replication 3, min.insync 2, one index replica).  docs/production.md says what this proves.
set -euo pipefail
umask 022 # cached files must stay readable by the unprivileged ES user

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

CACHE=${SOCPIPE_CACHE:-$HOME/.cache/socpipe}
SECURE=${SOCPIPE_SECURE:-0}
CLUSTER=${SOCPIPE_CLUSTER:-0}
if [ "$SECURE" = 1 ] && [ "$CLUSTER" = 1 ]; then
  echo "servers.sh: ERROR: SOCPIPE_SECURE and SOCPIPE_CLUSTER are separate modes, not both" >&2; exit 2
fi
if [ "$CLUSTER" = 1 ]; then
  STATE=${SOCPIPE_STATE:-/tmp/socpipe-cluster}
  KAFKA_PORT=${SOC_KAFKA_PORT:-39092}
  ES_PORT=${SOC_ES_PORT:-39200}
elif [ "$SECURE" = 1 ]; then
  STATE=${SOCPIPE_STATE:-/tmp/socpipe-secure}
  KAFKA_PORT=${SOC_KAFKA_PORT:-29092}
  ES_PORT=${SOC_ES_PORT:-29200}
else
  STATE=${SOCPIPE_STATE:-/tmp/socpipe-servers}
  KAFKA_PORT=${SOC_KAFKA_PORT:-19092}
  ES_PORT=${SOC_ES_PORT:-19200}
fi
KAFKA_CONTROLLER_PORT=${SOC_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_MTLS_PORT=${SOC_KAFKA_MTLS_PORT:-$((KAFKA_PORT + 2))} # secure mode only
SECURE_USER=${SOCPIPE_SECURE_USER:-socpipe}                # SCRAM and Elasticsearch user
ES_TRANSPORT_PORT=${SOC_ES_TRANSPORT_PORT:-$((ES_PORT + 100))}
KAFKA_VERSION=${SOCPIPE_KAFKA_VERSION:-4.3.1}
ES_VERSION=${SOCPIPE_ES_VERSION:-8.19.21}
START_TIMEOUT=${SOCPIPE_START_TIMEOUT:-180}
STOP_TIMEOUT=${SOCPIPE_STOP_TIMEOUT:-30}
KEEP_DATA=${SOCPIPE_KEEP_DATA:-0}
ES_USER=${SOCPIPE_ES_USER:-socpipe} # only used when running as root
KAFKA_HEAP=${SOCPIPE_KAFKA_HEAP:--Xms256m -Xmx512m}
ES_HEAP=${SOCPIPE_ES_HEAP:--Xms512m -Xmx1g}
if [ "$CLUSTER" = 1 ]; then # five JVMs on a small machine: smaller heaps unless told otherwise
  KAFKA_HEAP=${SOCPIPE_KAFKA_HEAP:--Xms128m -Xmx384m}
  ES_HEAP=${SOCPIPE_ES_HEAP:--Xms256m -Xmx512m}
  KAFKA_NODES=3 ES_NODES=2
else
  KAFKA_NODES=1 ES_NODES=1
fi
# Node 1's ports and folders are the ones above; select_node moves them to another node's.
BASE_KAFKA_PORT=$KAFKA_PORT BASE_KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT
BASE_ES_PORT=$ES_PORT BASE_ES_TRANSPORT_PORT=$ES_TRANSPORT_PORT
DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION   # pom.xml + lib/*.jar
ES_HOME=$CACHE/elasticsearch-$ES_VERSION # unzipped integ-test-zip
KDIR=$STATE/kafka
EDIR=$STATE/elasticsearch
NODE=1 # the node the functions below act on (select_node)
TLS=$STATE/tls # secure mode: ca.crt, server.{crt,key}, client.{crt,key}, password

say() { echo "servers.sh: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- tools

java_major() { # $1 = JAVA_HOME -> prints the feature version (17, 21, ...)
  "$1/bin/java" -XshowSettings:properties -version 2>&1 |
    awk -F'= ' '/java.specification.version/ {print $2; exit}'
}

# ES 8.x and Kafka 4.x want Java 17+; prefer 17/21 (what ES 8 is tested on) over newer.
find_java() {
  local c
  for c in ${SOCPIPE_JAVA_HOME:-} /usr/lib/jvm/java-17-openjdk-* /usr/lib/jvm/java-21-openjdk-* \
    ${JAVA_HOME:-} "$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent/bin/java)")")")"; do
    [ -x "$c/bin/java" ] || continue
    local v; v=$(java_major "$c")
    if [ "${v:-0}" -ge 17 ] 2>/dev/null; then echo "$c"; return 0; fi
  done
  return 1
}

# A fresh CI machine may lack the tools; install them from Debian when we can (root + apt).
# A JDK rather than a JRE: the Java health check (KafkaPing.java) needs the compiler.
TOOLS_OK=
ensure_tools() {
  [ -n "$TOOLS_OK" ] && return 0
  local pkgs=() jdk
  jdk=$(find_java) || pkgs+=(JDK)
  command -v mvn >/dev/null || pkgs+=(maven)
  command -v unzip >/dev/null || pkgs+=(unzip)
  command -v curl >/dev/null || pkgs+=(curl)
  if [ ${#pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
      die "missing: ${pkgs[*]} (need a JDK >= 17, Maven, unzip, curl)"
    fi
    local log; log=$(mktemp)
    apt-get update -q >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "apt-get update failed"; }
    if [ "${pkgs[0]}" = JDK ]; then # Debian 12 has 17; newer releases only 21+
      pkgs[0]=openjdk-17-jdk-headless
      apt-cache show openjdk-17-jdk-headless >/dev/null 2>&1 || pkgs[0]=openjdk-21-jdk-headless
    fi
    say "installing ${pkgs[*]} with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >"$log" 2>&1 ||
      { tail -n 30 "$log" >&2; die "apt-get install ${pkgs[*]} failed"; }
    rm -f "$log"
    jdk=$(find_java) || die "no Java >= 17 found even after install"
  fi
  export JAVA_HOME=$jdk
  TOOLS_OK=1
}

# ---------------------------------------------------------------- secure mode

# One local CA signs the servers' certificate (SAN 127.0.0.1 and localhost, so clients verify the
# host name) and a client certificate (CN=$SECURE_USER) for mutual TLS.  Kept across restarts (the
# clients' CA file stays valid); keys are PKCS#8 PEM, which Kafka's PEM key store reads as is.
ensure_tls() {
  [ -f "$TLS/.complete" ] && return 0
  command -v openssl >/dev/null || die "secure mode needs openssl"
  rm -rf "$TLS" && mkdir -p "$TLS" && chmod 755 "$TLS"
  local log=$STATE/openssl.log
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=socpipe local CA" \
      -keyout "$TLS/ca.key" -out "$TLS/ca.crt" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    local who cn ext
    for who in server client; do
      cn=127.0.0.1 ext=$'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth'
      [ $who = client ] && cn=$SECURE_USER ext="extendedKeyUsage=clientAuth"
      openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$TLS/$who.key" -out "$TLS/$who.csr"
      openssl x509 -req -in "$TLS/$who.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial \
        -days 825 -out "$TLS/$who.crt" -extfile <(echo "$ext")
      cat "$TLS/$who.key" "$TLS/$who.crt" >"$TLS/$who.pem" # Kafka's PEM key store: key + chain
    done
  } >"$log" 2>&1 || { tail_logs "$log"; die "openssl failed"; }
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TLS/password"
  rm -f "$TLS"/*.csr "$TLS"/*.srl "$log"
  # Keys and the password stay the owner's; the ES user reads its own copy in its config dir.
  chmod 600 "$TLS"/*.key "$TLS"/*.pem "$TLS/password"
  touch "$TLS/.complete"
}

secure_password() { cat "$TLS/password"; }

# kafka-python settings (JSON) for the health check (secure mode needs kafka-python: kafka_grant).
kafka_client_json() {
  printf '{"security_protocol":"SASL_SSL","sasl_mechanism":"SCRAM-SHA-512","sasl_plain_username":"%s","sasl_plain_password":"%s","ssl_cafile":"%s"}' \
    "$SECURE_USER" "$(secure_password)" "$TLS/ca.crt"
}

# ---------------------------------------------------------------- fetch

# Maven writes into a staging local repo inside the cache; it is deleted after the
# fetch because the jars/zip we need are copied out of it (no duplicate 150 MB).
# One fetch at a time per cache (CI jobs or parallel `start`s may share it); the lock
# is held until this script exits.
FETCH_LOCKED=
fetch_lock() {
  [ -n "$FETCH_LOCKED" ] && return 0
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.fetch.lock"
  flock 8
  FETCH_LOCKED=1
}
fetch_done() { # only the lock holder may delete the staging repo
  if [ -n "$FETCH_LOCKED" ]; then rm -rf "$CACHE/.m2-staging"; fi
}

mvn_q() { # mvn_q LOGFILE args...
  local log=$1; shift
  mkdir -p "$CACHE"
  if ! mvn -B -q -Dmaven.repo.local="$CACHE/.m2-staging" "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "maven failed (full log: $log)"
  fi
}

kafka_pom() {
  # kafka_2.13 is the broker (kafka.Kafka + StorageTool); its runtime deps include
  # kafka-server/-metadata/-raft/-storage.  The log binding is the one the official
  # tarball ships: reload4j for 3.x (which also uses the log4j 1 API), log4j2 for 4.x.
  local log_deps
  case $KAFKA_VERSION in
    3.*) log_deps='<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>' ;;
    4.*) log_deps='<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>' ;;
    *) die "unsupported SOCPIPE_KAFKA_VERSION=$KAFKA_VERSION (3.x or 4.x)" ;;
  esac
  cat <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <!-- generated by deploy/local/servers.sh: only used to download Kafka's jars -->
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.socpipe</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    $log_deps
  </dependencies>
</project>
EOF
}

fetch_kafka() {
  [ -f "$KAFKA_HOME/.complete" ] && return 0
  ensure_tools
  fetch_lock
  [ -f "$KAFKA_HOME/.complete" ] && return 0 # fetched while we waited for the lock
  say "fetching Kafka $KAFKA_VERSION from Maven Central"
  rm -rf "$KAFKA_HOME" && mkdir -p "$KAFKA_HOME"
  kafka_pom >"$KAFKA_HOME/pom.xml"
  mvn_q "$CACHE/fetch-kafka.log" -f "$KAFKA_HOME/pom.xml" "$DEP_PLUGIN:copy-dependencies" \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/lib"
  ls "$KAFKA_HOME"/lib/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka jars missing after fetch"
  touch "$KAFKA_HOME/.complete"
  rm -f "$CACHE/fetch-kafka.log"
}

fetch_elasticsearch() {
  [ -f "$ES_HOME/.complete" ] && return 0
  ensure_tools
  fetch_lock
  [ -f "$ES_HOME/.complete" ] && return 0
  say "fetching Elasticsearch $ES_VERSION (integ-test-zip) from Maven Central"
  local gav=org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip
  mvn_q "$CACHE/fetch-elasticsearch.log" "$DEP_PLUGIN:get" -Dartifact="$gav" -Dtransitive=false
  local zip=$CACHE/.m2-staging/org/elasticsearch/distribution/integ-test-zip/elasticsearch/$ES_VERSION/elasticsearch-$ES_VERSION.zip
  [ -f "$zip" ] || die "downloaded zip not found at $zip"
  local tmp=$CACHE/.unzip-es.$$
  rm -rf "$tmp" "$ES_HOME" && mkdir -p "$tmp"
  unzip -q "$zip" -d "$tmp" || die "unzip $zip failed"
  mv "$tmp"/elasticsearch-* "$ES_HOME" && rm -rf "$tmp"
  touch "$ES_HOME/.complete"
  rm -f "$CACHE/fetch-elasticsearch.log"
}

cmd_fetch() {
  fetch_kafka
  fetch_elasticsearch
  fetch_done
}

# ---------------------------------------------------------------- nodes

# Cluster mode: point the ports and folders at node $1 (node 1 keeps the base ones, so one-node
# modes are unchanged); kafka node i = broker port + 2(i-1) and its controller one above.
select_node() {
  NODE=$1
  [ "$CLUSTER" = 1 ] || return 0
  KAFKA_PORT=$((BASE_KAFKA_PORT + 2 * (NODE - 1)))
  KAFKA_CONTROLLER_PORT=$((BASE_KAFKA_CONTROLLER_PORT + 2 * (NODE - 1)))
  ES_PORT=$((BASE_ES_PORT + NODE - 1))
  ES_TRANSPORT_PORT=$((BASE_ES_TRANSPORT_PORT + NODE - 1))
  KDIR=$STATE/kafka-$NODE
  EDIR=$STATE/elasticsearch-$NODE
}

node_name() { # node_name KIND -> "kafka" in one-node modes, "kafka-2" in a cluster
  if [ "$CLUSTER" = 1 ]; then echo "$1-$NODE"; else echo "$1"; fi
}

node_list() { # node_list FORMAT COUNT BASE STEP -> FORMAT(i, port) for each node, comma-separated
  local i out=
  for ((i = 1; i <= $2; i++)); do
    # shellcheck disable=SC2059 # the format is ours
    out+=${out:+,}$(printf "$1" "$i" "$(($3 + $4 * (i - 1)))")
  done
  echo "$out"
}

# ---------------------------------------------------------------- processes

# Servers are found by their command line (a path unique to this state dir plus the
# program's main class), not by pid files: survives stale pid files and pid reuse, and
# finds the ES launcher JVM as well as the server JVM it forks.  No procps needed.
kafka_marker() { echo "$KDIR/server.properties|kafka.Kafka"; }
es_marker() { echo "$EDIR/|org.elasticsearch."; }

pids_with() { # pids_with 'A|B' -> pids whose argv contains both A and B
  local p args a=${1%%|*} b=${1#*|}
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    args=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
    case $args in *"$a"*) case $args in *"$b"*) echo "$p" ;; esac ;; esac
  done
}

stop_marker() { # stop_marker NAME MARKER: of a server that was running (it may be gone already)
  local pids; pids=$(pids_with "$2")
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while [ -n "$(pids_with "$2")" ] && [ $SECONDS -lt $deadline ]; do sleep 0.5; done
  pids=$(pids_with "$2")
  if [ -n "$pids" ]; then
    say "$1 did not stop within ${STOP_TIMEOUT}s, sending SIGKILL"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 1
    [ -z "$(pids_with "$2")" ] || die "cannot stop $1 (pids $(pids_with "$2" | tr '\n' ' ')): not ours?"
  fi
  say "$1 stopped"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Start a daemon in its own session (so the caller's Ctrl-C / process group does not
# reach it) with every inherited fd closed: a pytest fixture that captures output would
# otherwise wait forever for EOF on a pipe held by the daemon, and fd 9 is our lock.
LAUNCH_PID=
launch() { # launch LOGFILE cmd...
  local log=$1; shift
  setsid "$@" </dev/null >>"$log" 2>&1 8>&- 9>&- &
  LAUNCH_PID=$!
}

tail_logs() {
  local f
  for f in "$@"; do
    [ -s "$f" ] || continue
    echo "----- tail of $f -----" >&2
    tail -n 40 "$f" >&2
  done
}

# ---------------------------------------------------------------- health

PY=
pick_python() { # first interpreter that can import kafka-python, else "none"
  [ -n "$PY" ] && return 0
  local c
  for c in ${SOCPIPE_PYTHON:-} "$REPO/.venv/bin/python" python3; do
    [ "$c" = none ] && break # SOCPIPE_PYTHON=none forces the Java check
    if "$c" -c 'import kafka' >/dev/null 2>&1; then PY=$c; return 0; fi
  done
  PY=none
}

# A metadata request answered by the broker.  kafka-python (the project's client) if
# available, else a single-file Java program against the kafka-clients jar we ship.
kafka_healthy() {
  port_busy "$KAFKA_PORT" || return 1
  pick_python
  local security='{}'
  [ "$SECURE" = 1 ] && security=$(kafka_client_json)
  if [ "$PY" != none ]; then
    # the client settings (a password in secure mode) go through the environment, not argv;
    # a cluster's node is healthy once it sees every broker (after a restart: it has rejoined)
    SOCPIPE_KAFKA_CLIENT=$security "$PY" - "127.0.0.1:$KAFKA_PORT" "$KAFKA_NODES" >/dev/null 2>&1 <<'EOF'
import json, os, sys
from kafka import KafkaAdminClient
options = json.loads(os.environ["SOCPIPE_KAFKA_CLIENT"])
c = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=5000, **options)
try:
    assert len(c.describe_cluster()["brokers"]) >= int(sys.argv[2])
finally:
    c.close()
EOF
  else # (a cluster: this broker answers; the number of brokers is not checked)
    "$JAVA_HOME/bin/java" -cp "$KAFKA_HOME/lib/*" "$HERE/KafkaPing.java" "127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1
  fi
}

es_healthy() {
  local path="_cluster/health?wait_for_status=yellow&timeout=5s"
  [ "$CLUSTER" = 1 ] && path+="&wait_for_nodes=$ES_NODES" # every node has joined
  if [ "$SECURE" = 1 ]; then # the password goes through a config on stdin, not the command line
    printf 'user = "%s:%s"\n' "$SECURE_USER" "$(secure_password)" |
      curl -fsS -m 10 -K - --cacert "$TLS/ca.crt" "https://127.0.0.1:$ES_PORT/$path" >/dev/null 2>&1
  else
    curl -fsS -m 10 "http://127.0.0.1:$ES_PORT/$path" >/dev/null 2>&1
  fi
}

wait_healthy() { # wait_healthy NAME MARKER CHECKFN LOGS...
  local name=$1 marker=$2 check=$3; shift 3
  local launched=${LAUNCHED[$name]:-}
  local deadline=$((SECONDS + START_TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    if "$check"; then
      [ -n "$launched" ] && say "$name ready ($((SECONDS - T0))s)"
      return 0
    fi
    # Still starting if the launched wrapper lives (ES forks its server JVM late).
    if [ -z "$(pids_with "$marker")" ] && ! { [ -n "$launched" ] && kill -0 "$launched" 2>/dev/null; }; then
      tail_logs "$@"
      die "$name exited during startup"
    fi
    sleep 1
  done
  tail_logs "$@"
  die "$name not healthy after ${START_TIMEOUT}s"
}

# ---------------------------------------------------------------- kafka

kafka_listeners() {
  if [ "$SECURE" != 1 ]; then
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
    return
  fi
  # No plaintext listener: SASL_SSL (SCRAM users made by `format --add-scram`) and SSL with a
  # client certificate required; the broker reaches itself and its controller over mutual TLS with
  # its own certificate, the only super user.  Authorization is on: a user may do only what its
  # ACLs allow (kafka_grant gives socpipe's; the user `outsider` has none).
  cat <<EOF
listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT,SSL://127.0.0.1:$KAFKA_MTLS_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT,SSL://127.0.0.1:$KAFKA_MTLS_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SSL
listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL,SSL:SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.ssl.ssl.client.auth=required
listener.name.controller.ssl.client.auth=required
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:CN=127.0.0.1
ssl.keystore.type=PEM
ssl.keystore.location=$TLS/server.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.crt
EOF
}

random_cluster_id() { # 16 random bytes, base64url, like Uuid.randomUuid()
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    case $id in -*) ;; *) echo "$id"; return ;; esac # a leading '-' would look like an option
  done
}

# Every node of a cluster is formatted with the same id (kept in the state dir, new with fresh data).
kafka_cluster_id() {
  [ "$CLUSTER" = 1 ] || { random_cluster_id; return; }
  [ -s "$STATE/kafka-cluster-id" ] || random_cluster_id >"$STATE/kafka-cluster-id"
  cat "$STATE/kafka-cluster-id"
}

wait_kafka() {
  wait_healthy "$(node_name kafka)" "$(kafka_marker)" kafka_healthy "$KDIR/logs/server.log" "$KDIR/logs/stdout.log"
  if [ "$SECURE" = 1 ]; then kafka_grant; fi
}

# socpipe's ACLs (the SCRAM user and the client certificate's CN): every topic and group, and on
# the cluster what creating topics and idempotent producing ask.  Granted by the broker's own
# identity over the mutual-TLS listener; granting again is a no-op.
kafka_grant() {
  pick_python
  [ "$PY" != none ] || die "secure mode grants Kafka ACLs with kafka-python: set SOCPIPE_PYTHON"
  local admin
  admin=$(printf '{"security_protocol":"SSL","ssl_cafile":"%s","ssl_certfile":"%s","ssl_keyfile":"%s"}' \
    "$TLS/ca.crt" "$TLS/server.crt" "$TLS/server.key")
  SOCPIPE_KAFKA_CLIENT=$admin "$PY" - "127.0.0.1:$KAFKA_MTLS_PORT" "$SECURE_USER" >"$KDIR/logs/acl.log" 2>&1 <<'EOF' ||
import json, os, sys
from kafka import KafkaAdminClient
from kafka.admin import ACL, ACLOperation as Op, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType as R
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], **json.loads(os.environ["SOCPIPE_KAFKA_CLIENT"]))
grants = [(R.TOPIC, "*", Op.ALL), (R.GROUP, "*", Op.ALL), (R.CLUSTER, "kafka-cluster", Op.DESCRIBE),
          (R.CLUSTER, "kafka-cluster", Op.CREATE), (R.CLUSTER, "kafka-cluster", Op.IDEMPOTENT_WRITE)]
acls = [ACL(principal=p, host="*", operation=op, permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(r, name, ACLResourcePatternType.LITERAL))
        for p in (f"User:{sys.argv[2]}", f"User:CN={sys.argv[2]}") for r, name, op in grants]
try:
    result = admin.create_acls(acls)
    assert not result["failed"], result["failed"]
finally:
    admin.close()
EOF
    { tail_logs "$KDIR/logs/acl.log"; die "cannot grant socpipe's Kafka ACLs"; }
}

launch_kafka() { # no-op if already running; wait_kafka does the health check
  [ -n "$(pids_with "$(kafka_marker)")" ] && return 0
  fetch_kafka
  port_busy "$KAFKA_PORT" && die "port $KAFKA_PORT is in use by another process (set SOC_KAFKA_PORT)"
  port_busy "$KAFKA_CONTROLLER_PORT" && die "port $KAFKA_CONTROLLER_PORT is in use (set SOC_KAFKA_CONTROLLER_PORT)"
  [ "$KEEP_DATA" = 1 ] || [ "$FRESH_KAFKA" != 1 ] || rm -rf "$KDIR"
  mkdir -p "$KDIR/data" "$KDIR/logs"
  if [ "$SECURE" = 1 ]; then
    pick_python
    [ "$PY" != none ] || die "secure mode checks and grants Kafka with kafka-python: set SOCPIPE_PYTHON"
    ensure_tls
    port_busy "$KAFKA_MTLS_PORT" && die "port $KAFKA_MTLS_PORT is in use (set SOC_KAFKA_MTLS_PORT)"
  fi

  # Combined broker+controller nodes (one, or three voters in a cluster: a quorum survives one
  # lost node with half the JVMs of separate controllers); everything replicated once on one node,
  # three times with two in sync on a cluster (Kafka's own topics too); groups join at once.
  local replicas=1 insync=1
  [ "$CLUSTER" = 1 ] && replicas=3 insync=2
  cat >"$KDIR/server.properties" <<EOF
process.roles=broker,controller
node.id=$NODE
controller.quorum.voters=$(node_list '%s@127.0.0.1:%s' "$KAFKA_NODES" "$BASE_KAFKA_CONTROLLER_PORT" 2)
$(kafka_listeners)
log.dirs=$KDIR/data
num.partitions=3
default.replication.factor=$replicas
min.insync.replicas=$insync
auto.create.topics.enable=true
offsets.topic.replication.factor=$replicas
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$insync
share.coordinator.state.topic.replication.factor=$replicas
share.coordinator.state.topic.min.isr=$insync
group.initial.rebalance.delay.ms=0
log.retention.hours=24
EOF
  local java=$JAVA_HOME/bin/java
  local jopts
  read -r -a jopts <<<"$KAFKA_HEAP" # split the heap flags on spaces, on purpose
  jopts+=(-XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    "-Dkafka.logs.dir=$KDIR/logs")
  if ls "$KAFKA_HOME"/lib/reload4j-*.jar >/dev/null 2>&1; then # Kafka 3.x: log4j 1 config
    cat >"$KDIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$KDIR/logs/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
EOF
    jopts+=("-Dlog4j.configuration=file:$KDIR/log4j.properties")
  else # Kafka 4.x: log4j2 config
    cat >"$KDIR/log4j2.properties" <<EOF
appender.file.type=File
appender.file.name=file
appender.file.fileName=$KDIR/logs/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
logger.request.name=kafka.request.logger
logger.request.level=WARN
logger.clients.name=org.apache.kafka.clients
logger.clients.level=WARN
EOF
    jopts+=("-Dlog4j2.configurationFile=$KDIR/log4j2.properties")
  fi
  # StorageTool is Scala (kafka.tools) up to at least 4.2; newer releases are porting
  # tools to Java (org.apache.kafka.tools).  (grep without -q: no SIGPIPE under pipefail)
  local storage_tool=kafka.tools.StorageTool
  unzip -l "$KAFKA_HOME/lib/kafka_2.13-$KAFKA_VERSION.jar" 2>/dev/null | grep 'kafka/tools/StorageTool.class' >/dev/null ||
    storage_tool=org.apache.kafka.tools.StorageTool
  if [ ! -f "$KDIR/data/meta.properties" ]; then
    local scram=()
    [ "$SECURE" = 1 ] && scram=(--add-scram "SCRAM-SHA-512=[name=$SECURE_USER,password=$(secure_password)]"
      --add-scram "SCRAM-SHA-512=[name=outsider,password=$(secure_password)]")
    "$java" "${jopts[@]}" -cp "$KAFKA_HOME/lib/*" "$storage_tool" format \
      -t "$(kafka_cluster_id)" -c "$KDIR/server.properties" "${scram[@]}" >"$KDIR/logs/format.log" 2>&1 ||
      { tail_logs "$KDIR/logs/format.log"; die "kafka storage format failed"; }
  fi
  cd "$KDIR"
  launch "$KDIR/logs/stdout.log" "$java" "${jopts[@]}" -cp "$KAFKA_HOME/lib/*" kafka.Kafka "$KDIR/server.properties"
  LAUNCHED[$(node_name kafka)]=$LAUNCH_PID
}

# ---------------------------------------------------------------- elasticsearch

# ES refuses to run as root: as root, run it as an unprivileged system user.
ensure_es_user() {
  [ "$(id -u)" = 0 ] || return 0
  id -u "$ES_USER" >/dev/null 2>&1 && return 0
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$ES_USER" || die "cannot create user $ES_USER"
}

# The cache usually lives under /root (mode 700), which the ES user cannot enter:
# then run from a hard-linked (or copied) mirror of the install in the state dir.
es_runtime_home() {
  if [ "$(id -u)" != 0 ] || runuser -u "$ES_USER" -- test -r "$ES_HOME/lib" -a -x "$ES_HOME/bin/elasticsearch"; then
    echo "$ES_HOME"; return
  fi
  local mirror=$STATE/elasticsearch-$ES_VERSION
  if [ ! -f "$mirror/.complete" ]; then
    rm -rf "$mirror"
    cp -al "$ES_HOME" "$mirror" 2>/dev/null || { rm -rf "$mirror"; cp -a "$ES_HOME" "$mirror"; }
  fi
  echo "$mirror"
}

es_has_module() { [ -d "$ES_HOME/modules/$1" ]; }

wait_elasticsearch() {
  wait_healthy "$(node_name elasticsearch)" "$(es_marker)" es_healthy "$EDIR/logs/socpipe-local.log" "$EDIR/logs/launcher.log"
}

launch_elasticsearch() { # no-op if already running; wait_elasticsearch does the health check
  [ -n "$(pids_with "$(es_marker)")" ] && return 0
  fetch_elasticsearch
  port_busy "$ES_PORT" && die "port $ES_PORT is in use by another process (set SOC_ES_PORT)"
  port_busy "$ES_TRANSPORT_PORT" && die "port $ES_TRANSPORT_PORT is in use (set SOC_ES_TRANSPORT_PORT)"
  ensure_es_user
  mkdir -p "$STATE"
  chmod 755 "$STATE"
  [ "$KEEP_DATA" = 1 ] || [ "$FRESH_ELASTICSEARCH" != 1 ] || rm -rf "$EDIR"
  mkdir -p "$EDIR/data" "$EDIR/logs" "$EDIR/tmp"
  # Config lives in the state dir: ES writes its keystore there and the cache stays read-only.
  rm -rf "$EDIR/config" && cp -r "$ES_HOME/config" "$EDIR/config"
  {
    if [ "$CLUSTER" = 1 ]; then
      # Node 1 alone is master-eligible: of two master-eligible nodes only one votes (a quorum
      # cannot survive either's loss), so the data node is the one a fault may take away.
      echo "cluster.name: socpipe-cluster"
      echo "node.name: socpipe-$NODE"
      echo "discovery.seed_hosts: [$(node_list '127.0.0.1:%.0s%s' "$ES_NODES" "$BASE_ES_TRANSPORT_PORT" 1)]"
      if [ "$NODE" = 1 ]; then
        echo "node.roles: [master, data, ingest]"
        echo "cluster.initial_master_nodes: [socpipe-1]"
      else
        echo "node.roles: [data, ingest]"
      fi
    else
      echo "cluster.name: socpipe-local"
      echo "node.name: socpipe"
    fi
    echo "path.data: $EDIR/data"
    echo "path.logs: $EDIR/logs"
    echo "network.host: 127.0.0.1"
    echo "http.port: $ES_PORT"
    echo "transport.port: $ES_TRANSPORT_PORT"
    [ "$CLUSTER" = 1 ] || echo "discovery.type: single-node"
    echo "cluster.routing.allocation.disk.threshold_enabled: false"
    echo "action.destructive_requires_name: false"
    # Settings below only exist when their module ships in this distribution.
    if [ "$SECURE" = 1 ]; then
      # The integ-test-zip ships x-pack-security: file-realm users and roles, TLS on HTTP and on
      # the transport.  It lacks the analysis-common module that the .security index's mapping
      # needs, so API keys and native users cannot be created here (docs/production.md).
      echo "xpack.security.enabled: true"
      local layer
      for layer in http transport; do
        echo "xpack.security.$layer.ssl.enabled: true"
        echo "xpack.security.$layer.ssl.key: tls/server.key"
        echo "xpack.security.$layer.ssl.certificate: tls/server.crt"
        echo "xpack.security.$layer.ssl.certificate_authorities: [tls/ca.crt]"
      done
      echo "xpack.security.transport.ssl.verification_mode: full"
    elif es_has_module x-pack-security; then echo "xpack.security.enabled: false"; fi
    if es_has_module x-pack-ml; then echo "xpack.ml.enabled: false"; fi
    if es_has_module ingest-geoip; then echo "ingest.geoip.downloader.enabled: false"; fi # no internet
  } >"$EDIR/config/elasticsearch.yml"
  # GC log / heap dumps / crash files go to the state dir, not to the (read-only) install.
  cat >"$EDIR/config/jvm.options.d/socpipe.options" <<EOF
-Xlog:disable
-Xlog:all=warning:stderr:utctime,level,tags
-XX:HeapDumpPath=$EDIR/data
-XX:ErrorFile=$EDIR/logs/hs_err_pid%p.log
EOF
  local home; home=$(es_runtime_home)
  if [ "$SECURE" = 1 ]; then
    es_has_module x-pack-security || die "this Elasticsearch distribution has no x-pack-security module"
    ensure_tls
    mkdir -p "$EDIR/config/tls"
    cp "$TLS/ca.crt" "$TLS/server.crt" "$TLS/server.key" "$EDIR/config/tls/"
    # A file-realm user with what socpipe needs and no more: its indices (any prefix here, since
    # the tests make their own; `soc-*` in production), their templates, ILM, cluster health.
    # Not a superuser: it cannot manage security.  The password is hashed by ES's own tool.
    cat >>"$EDIR/config/roles.yml" <<EOF
socpipe:
  cluster: [monitor, manage_index_templates, manage_ilm]
  indices:
    - names: ["*"]
      privileges: [all]
EOF
    env -i PATH=/usr/bin:/bin HOME="$EDIR" ES_JAVA_HOME="$JAVA_HOME" ES_PATH_CONF="$EDIR/config" \
      "$home/bin/elasticsearch-users" useradd "$SECURE_USER" -p "$(secure_password)" -r socpipe \
      >"$EDIR/logs/users.log" 2>&1 || { tail_logs "$EDIR/logs/users.log"; die "elasticsearch-users failed"; }
  fi
  if [ "$(id -u)" = 0 ]; then chown -R "$ES_USER:" "$EDIR"; fi
  # -d: the launcher exits once the server JVM is up; -p: server pid file.
  # env -i: a clean, reproducible environment (no stray JAVA_TOOL_OPTIONS etc.).
  local cmd=(env -i PATH=/usr/bin:/bin HOME="$EDIR" LANG=C.UTF-8 ES_JAVA_HOME="$JAVA_HOME"
    ES_PATH_CONF="$EDIR/config" ES_TMPDIR="$EDIR/tmp" ES_JAVA_OPTS="$ES_HEAP"
    "$home/bin/elasticsearch" -d -p "$EDIR/es.pid")
  [ "$(id -u)" = 0 ] && cmd=(runuser -u "$ES_USER" -- "${cmd[@]}")
  cd "$EDIR" # relative paths in ES's default jvm.options (gc.log, replay files) land here
  launch "$EDIR/logs/launcher.log" "${cmd[@]}"
  LAUNCHED[$(node_name elasticsearch)]=$LAUNCH_PID
}

# ---------------------------------------------------------------- commands

with_lock() { # one start/stop at a time per state dir
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  flock 9
}

units() { # units TARGET... -> kind:node per line (all, kafka, elasticsearch|es, kafka-N, elasticsearch-N)
  local t n
  [ $# -gt 0 ] || set -- all
  for t in "$@"; do
    case $t in
      all) units kafka elasticsearch ;;
      kafka) for ((n = 1; n <= KAFKA_NODES; n++)); do echo "kafka:$n"; done ;;
      elasticsearch | es) for ((n = 1; n <= ES_NODES; n++)); do echo "elasticsearch:$n"; done ;;
      kafka-[1-9]) [ "${t#*-}" -le "$KAFKA_NODES" ] || die "no $t: $KAFKA_NODES Kafka node(s)"; echo "kafka:${t#*-}" ;;
      elasticsearch-[1-9] | es-[1-9])
        [ "${t#*-}" -le "$ES_NODES" ] || die "no $t: $ES_NODES Elasticsearch node(s)"; echo "elasticsearch:${t#*-}" ;;
      *) die "unknown server '$t' (all|kafka|elasticsearch, or kafka-N|elasticsearch-N)" ;;
    esac
  done
}

marker_of() { # marker_of KIND (of the selected node)
  case $1 in kafka) kafka_marker ;; elasticsearch) es_marker ;; esac
}

# A kind's data is fresh (deleted at launch unless SOCPIPE_KEEP_DATA=1) when all its nodes are
# started and none is running: one node started alone in a cluster is a restart and rejoins with
# its data.
fresh() { # fresh KIND UNITS -> 0/1
  local n
  for ((n = 1; n <= $([ "$1" = kafka ] && echo "$KAFKA_NODES" || echo "$ES_NODES"); n++)); do
    grep -qx "$1:$n" <<<"$2" || { echo 0; return; }
    select_node "$n"
    [ -z "$(pids_with "$(marker_of "$1")")" ] || { echo 0; return; }
  done
  echo 1
}

# pid of the wrapper each launch_X started this run, by node name (read by wait_healthy)
declare -A LAUNCHED=()
cmd_start() {
  local all u; all=$(units "$@")
  ensure_tools
  with_lock
  T0=$SECONDS
  FRESH_KAFKA=$(fresh kafka "$all") FRESH_ELASTICSEARCH=$(fresh elasticsearch "$all")
  if [ "$FRESH_KAFKA" = 1 ] && [ "$KEEP_DATA" != 1 ]; then rm -f "$STATE/kafka-cluster-id"; fi
  for u in $all; do select_node "${u#*:}"; "launch_${u%:*}"; done # the JVMs boot in parallel
  fetch_done
  for u in $all; do select_node "${u#*:}"; "wait_${u%:*}"; done
}

cmd_stop() {
  local u pids
  local -A running=()
  with_lock
  # SIGTERM to every node first: the last broker of a cluster stopped alone would wait for a
  # controller quorum that is gone (and be SIGKILLed after the timeout).
  for u in $(units "$@"); do
    select_node "${u#*:}"
    pids=$(pids_with "$(marker_of "${u%:*}")")
    [ -n "$pids" ] || continue
    running[$u]=1
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
  done
  for u in "${!running[@]}"; do
    select_node "${u#*:}"
    stop_marker "$(node_name "${u%:*}")" "$(marker_of "${u%:*}")"
  done
}

# SIGKILL, no shutdown at all (the fault tests' lost node); `start` brings it back with its data.
cmd_kill() {
  local u name pids deadline
  with_lock
  for u in $(units "$@"); do
    select_node "${u#*:}"
    name=$(node_name "${u%:*}")
    pids=$(pids_with "$(marker_of "${u%:*}")")
    [ -n "$pids" ] || die "$name is not running"
    # shellcheck disable=SC2086
    kill -KILL $pids
    deadline=$((SECONDS + STOP_TIMEOUT))
    while [ -n "$(pids_with "$(marker_of "${u%:*}")")" ]; do
      [ $SECONDS -lt $deadline ] || die "$name still there after SIGKILL"
      sleep 0.2
    done
    say "$name killed"
  done
}

cmd_status() {
  local rc=0 pids u kind name port check
  JAVA_HOME=$(find_java || true) # for the Java fallback of kafka_healthy
  for u in $(units all); do
    kind=${u%:*}
    select_node "${u#*:}"
    name=$(node_name "$kind")
    port=$ES_PORT check=es_healthy
    [ "$kind" = kafka ] && port=$KAFKA_PORT check=kafka_healthy
    pids=$(pids_with "$(marker_of "$kind")" | tr '\n' ' ')
    if [ -z "$pids" ]; then echo "$name: stopped"; rc=3
    elif "$check"; then echo "$name: running (pid ${pids% }) 127.0.0.1:$port healthy"
    else echo "$name: running (pid ${pids% }) 127.0.0.1:$port NOT healthy"; rc=3; fi
  done
  return $rc
}

cmd_env() {
  if [ "$CLUSTER" = 1 ]; then # every broker; the master node (clients keep it: it is never killed)
    echo "SOC_KAFKA_BOOTSTRAP=$(node_list '127.0.0.1:%.0s%s' "$KAFKA_NODES" "$BASE_KAFKA_PORT" 2)"
    echo "SOC_ES_URL=http://127.0.0.1:$ES_PORT"
    echo "SOC_TOPIC_REPLICATION=3"
    echo "SOC_TOPIC_MIN_INSYNC_REPLICAS=2"
    echo "SOC_ES_REPLICAS=1"
    echo "SOCPIPE_ES_NODES=$(node_list 'http://127.0.0.1:%.0s%s' "$ES_NODES" "$BASE_ES_PORT" 1)"
    return
  fi
  echo "SOC_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT"
  if [ "$SECURE" != 1 ]; then
    echo "SOC_ES_URL=http://127.0.0.1:$ES_PORT"
    return
  fi
  [ -f "$TLS/.complete" ] || die "no certificates yet under $TLS: run SOCPIPE_SECURE=1 $0 start first"
  echo "SOC_KAFKA_SECURITY_PROTOCOL=SASL_SSL"
  echo "SOC_KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
  echo "SOC_KAFKA_SASL_USERNAME=$SECURE_USER"
  echo "SOC_KAFKA_SASL_PASSWORD=$(secure_password)"
  echo "SOC_KAFKA_SSL_CAFILE=$TLS/ca.crt"
  echo "SOC_ES_URL=https://127.0.0.1:$ES_PORT"
  echo "SOC_ES_USERNAME=$SECURE_USER"
  echo "SOC_ES_PASSWORD=$(secure_password)"
  echo "SOC_ES_CA_CERTS=$TLS/ca.crt"
  # mutual TLS instead of SCRAM: SOC_KAFKA_SECURITY_PROTOCOL=SSL with these
  echo "SOCPIPE_KAFKA_MTLS_BOOTSTRAP=127.0.0.1:$KAFKA_MTLS_PORT"
  echo "SOCPIPE_TLS_CLIENT_CERT=$TLS/client.crt"
  echo "SOCPIPE_TLS_CLIENT_KEY=$TLS/client.key"
  # a SCRAM user (same password) without any ACL: authenticated, authorized for nothing
  echo "SOCPIPE_KAFKA_OUTSIDER=outsider"
}

case ${1:-} in
  fetch) cmd_fetch ;;
  start) cmd_start "${@:2}" ;;
  stop) cmd_stop "${@:2}" ;;
  kill) [ $# -ge 2 ] || die "kill what? (kafka-N, elasticsearch-N, ...)"; cmd_kill "${@:2}" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 fetch | start|stop|kill [all|kafka|elasticsearch|kafka-N|elasticsearch-N]... | status | env" >&2; exit 2 ;;
esac
