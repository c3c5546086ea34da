#!/usr/bin/env bash
# A throwaway RabbitMQ node for the bus tests, never the system service: its own node name,
# free loopback ports, data, logs and Erlang cookie, all inside <dir>.
#
#   scripts/rabbitmq.sh start <dir>     one node; writes <dir>/env
#   scripts/rabbitmq.sh cluster <dir>   two nodes joined in a cluster (failover tests)
#   scripts/rabbitmq.sh stop <dir>      stops what start/cluster started (kills it if need be)
#   scripts/rabbitmq.sh revive <dir>    starts node 1 again (same name, ports and data) after a
#                                       test killed it; rewrites <dir>/env (the new pid)
#
# <dir>/env (for `set -a; . <dir>/env; set +a`):
#   KAMEA_AMQP_URL=amqp://guest:guest@127.0.0.1:<port>/   KAMEA_RABBITMQ_NODE=<node>
#   KAMEA_RABBITMQ_PID=<beam pid>   KAMEA_RABBITMQ_HOME=<dir> (HOME holding the cookie)
#   KAMEA_AMQPS_URL=amqps://guest:guest@localhost:<port>/ (node 1's TLS listener) with
#   KAMEA_AMQP_CA, KAMEA_AMQP_CLIENT_CERT, KAMEA_AMQP_CLIENT_KEY (a throwaway CA in <dir>/tls)
#   and, for a cluster, KAMEA_AMQP_URL2, KAMEA_RABBITMQ_NODE2, KAMEA_RABBITMQ_PID2.
# Run rabbitmqctl against it with HOME=$KAMEA_RABBITMQ_HOME (the cookie) and -n <node>.
set -euo pipefail

bin=/usr/lib/rabbitmq/bin # the real scripts: /usr/sbin's wrappers switch to the rabbitmq user
usage() { echo "usage: $0 start|cluster|stop|revive <dir>" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(mkdir -p "$2" && cd "$2" && pwd)

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The environment of node <i> (1 or 2), for the server and for rabbitmqctl alike.
node_env() {
    local i=$1 base=$dir/n$1
    export HOME=$dir
    export RABBITMQ_NODENAME=$(cat "$base/nodename")
    export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    export RABBITMQ_NODE_PORT=$(cat "$base/amqp_port")
    export RABBITMQ_DIST_PORT=$(cat "$base/dist_port")
    export RABBITMQ_MNESIA_BASE=$base/mnesia
    export RABBITMQ_LOG_BASE=$base/log
    export RABBITMQ_LOGS=$base/log/node.log
    export RABBITMQ_PID_FILE=$base/pid
    export RABBITMQ_ENABLED_PLUGINS_FILE=$base/enabled_plugins
    export RABBITMQ_CONFIG_FILE=$base/rabbitmq.conf
    export RABBITMQ_ADVANCED_CONFIG_FILE=$base/advanced.config
    export RABBITMQ_CONF_ENV_FILE=$base/rabbitmq-env.conf
    export ERL_EPMD_ADDRESS=127.0.0.1 # when this node is the one starting epmd
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    : "$i"
}

ctl() { # ctl <i> args...: rabbitmqctl against node <i>
    local i=$1
    shift
    (node_env "$i" && "$bin/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@")
}

# A throwaway CA, a server certificate for "localhost" and a client certificate, in <dir>/tls.
make_tls() {
    local t=$dir/tls
    rm -rf "$t"
    mkdir -p "$t"
    local key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${key[@]}" -keyout "$t/ca.key" -out "$t/ca.pem" -days 2 -subj "/CN=kamea test CA" 2>/dev/null
    for who in server client; do
        local cn=localhost
        [ "$who" = client ] && cn=kamea-client
        openssl req "${key[@]}" -keyout "$t/$who.key" -out "$t/$who.csr" -subj "/CN=$cn" 2>/dev/null
        printf 'subjectAltName=DNS:%s,IP:127.0.0.1\n' "$cn" >"$t/$who.ext"
        openssl x509 -req -in "$t/$who.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
            -out "$t/$who.pem" -days 2 -extfile "$t/$who.ext" 2>/dev/null
    done
}

start_node() {
    local i=$1 base=$dir/n$1
    rm -rf "$base"
    mkdir -p "$base/mnesia" "$base/log"
    echo "kamea-$(basename "$dir" | tr -c 'A-Za-z0-9\n' '-')-$$-n$i@localhost" >"$base/nodename"
    free_port >"$base/amqp_port"
    free_port >"$base/dist_port"
    echo '[].' >"$base/enabled_plugins"
    : >"$base/rabbitmq.conf"
    if [ "$i" = 1 ]; then # a TLS listener too, client certificates optional
        free_port >"$base/tls_port"
        cat >"$base/rabbitmq.conf" <<CONF
listeners.ssl.1 = 127.0.0.1:$(cat "$base/tls_port")
ssl_options.cacertfile = $dir/tls/ca.pem
ssl_options.certfile = $dir/tls/server.pem
ssl_options.keyfile = $dir/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
CONF
    fi
    echo '[].' >"$base/advanced.config"
    : >"$base/rabbitmq-env.conf"
    launch_node "$i"
}

launch_node() {
    local i=$1 base=$dir/n$1
    (
        node_env "$i"
        setsid nohup "$bin/rabbitmq-server" >"$base/log/stdout" 2>&1 </dev/null &
    )
    if ! ctl "$i" wait --timeout 60 "$base/pid" >/dev/null 2>&1 || ! ctl "$i" await_startup --timeout 60 >/dev/null 2>&1; then
        echo "rabbitmq.sh: node $i did not start; its log:" >&2
        tail -30 "$base/log/stdout" "$base/log/node.log" >&2 2>/dev/null || true
        exit 1
    fi
}

write_env() {
    local n=$1 f=$dir/env.tmp
    {
        echo "KAMEA_RABBITMQ_HOME=$dir"
        echo "KAMEA_AMQP_URL=amqp://guest:guest@127.0.0.1:$(cat "$dir/n1/amqp_port")/"
        echo "KAMEA_RABBITMQ_NODE=$(cat "$dir/n1/nodename")"
        echo "KAMEA_RABBITMQ_PID=$(cat "$dir/n1/pid")"
        echo "KAMEA_AMQPS_URL=amqps://guest:guest@localhost:$(cat "$dir/n1/tls_port")/"
        echo "KAMEA_AMQP_CA=$dir/tls/ca.pem"
        echo "KAMEA_AMQP_CLIENT_CERT=$dir/tls/client.pem"
        echo "KAMEA_AMQP_CLIENT_KEY=$dir/tls/client.key"
        if [ "$n" -ge 2 ]; then
            echo "KAMEA_AMQP_URL2=amqp://guest:guest@127.0.0.1:$(cat "$dir/n2/amqp_port")/"
            echo "KAMEA_RABBITMQ_NODE2=$(cat "$dir/n2/nodename")"
            echo "KAMEA_RABBITMQ_PID2=$(cat "$dir/n2/pid")"
        fi
    } >"$f"
    mv "$f" "$dir/env"
}

stop_node() {
    local i=$1 base=$dir/n$1 pid=""
    [ -d "$base" ] || return 0
    [ -f "$base/pid" ] && pid=$(cat "$base/pid")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -CONT "$pid" 2>/dev/null || true # a frozen node cannot stop
        ctl "$i" stop --timeout 20 >/dev/null 2>&1 || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
}

case $cmd in
start | cluster)
    [ -f "$dir/env" ] && "$0" stop "$dir"
    umask 077
    # One cookie for both nodes and rabbitmqctl: HOME=<dir> for all of them.
    if [ ! -f "$dir/.erlang.cookie" ]; then
        head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/.erlang.cookie"
        chmod 400 "$dir/.erlang.cookie"
    fi
    umask 022
    make_tls
    start_node 1
    if [ "$cmd" = cluster ]; then
        start_node 2
        ctl 2 stop_app >/dev/null
        ctl 2 join_cluster "$(cat "$dir/n1/nodename")" >/dev/null
        ctl 2 start_app >/dev/null
        write_env 2
    else
        write_env 1
    fi
    cat "$dir/env"
    ;;
revive)
    [ -f "$dir/n1/nodename" ] || { echo "rabbitmq.sh: nothing to revive in $dir" >&2; exit 1; }
    pid=$(cat "$dir/n1/pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "rabbitmq.sh: node 1 is still running (pid $pid)" >&2
        exit 1
    fi
    rm -f "$dir/n1/pid"
    launch_node 1
    write_env 1
    cat "$dir/env"
    ;;
stop)
    stop_node 2
    stop_node 1
    rm -f "$dir/env"
    ;;
*) usage ;;
esac
