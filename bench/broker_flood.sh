#!/bin/bash
# The broker under a flood from ONE agent account while the collector's persistent session
# is away: broker RSS after 300 x 1 MiB on its own results topic, for a queue bound and a
# memory limit (deploy/mosquitto/mosquitto.conf ships 512 MiB and 1 GiB). Needs root and
# mosquitto; loopback only. Usage: bench/broker_flood.sh MAX_QUEUED_BYTES MEMORY_LIMIT
# (0 = none). docs/broker.md, "What one agent's password gives".
set -u
QB=$1; ML=$2; PORT=18890
cd "$(mktemp -d)"; chmod 755 .; mkdir d; chown mosquitto d
cat > d/conf <<EOC
listener $PORT 127.0.0.1
allow_anonymous false
password_file $PWD/d/passwords
acl_file $PWD/d/acl
use_username_as_clientid true
max_queued_messages 0
max_queued_bytes $QB
$( [ "$ML" != 0 ] && echo "memory_limit $ML" )
max_packet_size 1056768
EOC
touch d/passwords; mosquitto_passwd -b d/passwords dui-collector c >/dev/null; mosquitto_passwd -b d/passwords og.site-a.poste-1 a >/dev/null
printf 'user dui-collector\ntopic read dui/v1/+/+/+/results\n\nuser og.site-a.poste-1\ntopic write dui/v1/og/site-a/poste-1/results\n' > d/acl
chown mosquitto d/*
mosquitto -c d/conf > d/log 2>&1 & PID=$!; sleep 0.5
timeout 3 mosquitto_sub -p $PORT -u dui-collector -P c -i dui-collector -c -q 1 -t 'dui/v1/+/+/+/results' -C 1 -W 1 >/dev/null 2>&1
python3 -c "import sys; l=b'a'*(1<<20)+b'\n'; [sys.stdout.buffer.write(l) for _ in range(300)]" | timeout 120 mosquitto_pub -p $PORT -u og.site-a.poste-1 -P a -q 1 -t dui/v1/og/site-a/poste-1/results -l
sleep 1
echo "max_queued_bytes=$QB memory_limit=$ML: broker RSS $(( $(ps -o rss= -p $PID) / 1024 )) MiB after 300 x 1 MiB"
kill $PID; wait $PID 2>/dev/null
