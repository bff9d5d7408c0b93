# The engine's service unit, and what it may write.
# The engine writes only its data directory (its logs are there too); its install
# tree and configuration stay root's, so a compromised engine cannot rewrite them.
chown -R "$user:$user" "/var/$ENGINE"
rm -rf "$work"

cat >"/etc/systemd/system/$service.service" <<EOF
[Unit]
Description=$ENGINE $ROLE
Wants=network-online.target
After=network-online.target

[Service]
User=$user
Group=$user
ExecStart=$launcher run
Restart=on-failure
RestartSec=5
LimitNOFILE=131072
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=/var/$ENGINE
PrivateTmp=yes
ProtectHome=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
EOF
