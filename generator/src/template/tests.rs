use super::*;

fn template(settings: &StackSettings) -> Value {
    build(settings)
}

fn resources_of_type<'a>(
    template: &'a Value,
    kind: &str,
) -> impl Iterator<Item = (&'a String, &'a Value)> {
    let kind = kind.to_owned();
    template["Resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(move |(_, r)| r["Type"] == kind.as_str())
}

#[test]
fn coordinator_count_is_the_parameter_default_in_ec2_configuration() {
    for n in presto_ha_contract::limits::COORDINATORS {
        let t = template(&StackSettings {
            coordinators: n,
            ..StackSettings::default()
        });
        let parameter = &t["Parameters"]["HACoordinatorsCount"];
        assert_eq!(parameter["Default"], n);
        assert_eq!(
            (
                parameter["MinValue"].as_u64(),
                parameter["MaxValue"].as_u64()
            ),
            (Some(1), Some(5))
        );
    }
    let t = template(&StackSettings::default());
    let groups = t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        .as_array()
        .expect("groups");
    let ec2 = groups
        .iter()
        .find(|g| g["Label"]["default"] == "EC2 Configuration")
        .expect("EC2 Configuration");
    assert!(
        ec2["Parameters"]
            .as_array()
            .expect("list")
            .contains(&"HACoordinatorsCount".into())
    );
    let group = &t["Resources"][ids::COORDINATOR_GROUP]["Properties"];
    for size in ["MinSize", "MaxSize", "DesiredCapacity"] {
        assert_eq!(group[size], r#ref("HACoordinatorsCount"), "{size}");
    }
}

#[test]
fn every_parameter_is_in_a_console_group_with_a_label() {
    let t = template(&StackSettings::default());
    let interface = &t["Metadata"]["AWS::CloudFormation::Interface"];
    let grouped: Vec<&Value> = interface["ParameterGroups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["Parameters"].as_array().expect("list"))
        .collect();
    let parameters = t["Parameters"].as_object().expect("parameters");
    assert_eq!(grouped.len(), parameters.len());
    for name in parameters.keys() {
        assert!(
            grouped.contains(&&Value::from(name.as_str())),
            "{name} is in no group"
        );
        assert!(
            interface["ParameterLabels"][name]["default"].is_string(),
            "{name} has no label"
        );
    }
}

/// Every rule of `kind` (`Ingress` or `Egress`), inline or a resource of its own.
fn security_group_rules<'a>(t: &'a Value, kind: &str) -> Vec<&'a Value> {
    let mut rules: Vec<&Value> = resources_of_type(t, "AWS::EC2::SecurityGroup")
        .flat_map(|(_, g)| {
            g["Properties"][format!("SecurityGroup{kind}")]
                .as_array()
                .into_iter()
                .flatten()
        })
        .collect();
    let kind = format!("AWS::EC2::SecurityGroup{kind}");
    rules.extend(resources_of_type(t, &kind).map(|(_, r)| &r["Properties"]));
    rules
}

#[test]
fn nothing_faces_the_internet() {
    let t = template(&StackSettings::default());
    let inbound = security_group_rules(&t, "Ingress");
    assert!(inbound.len() >= 6, "{inbound:?}");
    for rule in inbound {
        assert_ne!(rule["CidrIp"], "0.0.0.0/0", "{rule}");
        assert!(rule["CidrIpv6"].is_null(), "{rule}");
    }
    // Outbound, the world gets HTTPS only; everything else goes to a group of
    // the stack or to the data source CIDR.
    let outbound = security_group_rules(&t, "Egress");
    assert!(outbound.len() >= 7, "{outbound:?}");
    for rule in outbound {
        assert_eq!(rule["IpProtocol"], "tcp", "{rule}");
        assert!(rule["CidrIpv6"].is_null(), "{rule}");
        match &rule["CidrIp"] {
            Value::Null => assert!(rule["DestinationSecurityGroupId"].is_object(), "{rule}"),
            cidr if cidr == "0.0.0.0/0" => {
                assert_eq!(
                    (&rule["FromPort"], &rule["ToPort"]),
                    (&443.into(), &443.into()),
                    "{rule}"
                )
            }
            cidr => assert_eq!(cidr, &r#ref(param::DATA_SOURCE_CIDR), "{rule}"),
        }
    }
    // No public address, whatever the subnet's auto-assign setting.
    for (id, lt) in resources_of_type(&t, "AWS::EC2::LaunchTemplate") {
        let data = &lt["Properties"]["LaunchTemplateData"];
        assert!(data["SecurityGroupIds"].is_null(), "{id}");
        let interfaces = data["NetworkInterfaces"].as_array().expect("interfaces");
        assert_eq!(interfaces.len(), 1, "{id}");
        assert_eq!(interfaces[0]["DeviceIndex"], 0, "{id}");
        assert_eq!(interfaces[0]["AssociatePublicIpAddress"], false, "{id}");
    }
    // Every CIDR parameter refuses a /0, and the client CIDR must be given.
    assert!(t["Parameters"][param::CLIENT_CIDR]["Default"].is_null());
    for cidr in [param::CLIENT_CIDR, param::SSH_CIDR, param::DATA_SOURCE_CIDR] {
        let pattern = t["Parameters"][cidr]["AllowedPattern"]
            .as_str()
            .expect("pattern");
        let pattern = regex::Regex::new(pattern).expect("compiles");
        for world in ["0.0.0.0/0", "10.0.0.0/0", "::/0"] {
            assert!(!pattern.is_match(world), "{cidr} accepts {world}");
        }
        assert!(pattern.is_match("10.0.0.0/8"), "{cidr}");
        let refused = t["Rules"]["NothingFacesTheInternet"]["Assertions"]
            .as_array()
            .expect("assertions")
            .iter()
            .any(|a| a["Assert"]["Fn::Not"][0]["Fn::Equals"] == json!([r#ref(cidr), "0.0.0.0/0"]));
        assert!(refused, "{cidr}");
    }
}

#[test]
fn alarms_notify_the_topic_and_the_standby_alarm_expects_one_fewer_than_the_count() {
    let t = template(&StackSettings::default());
    let alarms: Vec<_> = resources_of_type(&t, "AWS::CloudWatch::Alarm").collect();
    assert_eq!(alarms.len(), 6);
    for (id, alarm) in &alarms {
        let p = &alarm["Properties"];
        assert_eq!(p["AlarmActions"], json!([r#ref(ALARM_TOPIC)]), "{id}");
        assert!(
            p["AlarmDescription"].as_str().is_some_and(|d| d.len() > 60),
            "{id}"
        );
    }
    let standbys = &t["Resources"]["StandbysAlarm"];
    assert_eq!(standbys["Condition"], HAS_STANDBYS);
    assert_eq!(
        t["Conditions"][HAS_STANDBYS],
        json!({ "Fn::Not": [{ "Fn::Equals": [r#ref(param::HA_COORDINATORS_COUNT), 1] }] })
    );
    for count in limits::COORDINATORS {
        assert_eq!(
            t["Mappings"][STANDBYS_BY_COUNT][count.to_string()]["Standbys"],
            count - 1
        );
    }
    assert_eq!(t["Resources"]["AlarmEmail"]["Condition"], EMAIL_GIVEN);
    assert_eq!(
        t["Resources"][ALARM_TOPIC]["Properties"]["KmsMasterKeyId"],
        r#ref(ALARM_KEY)
    );
}

#[test]
fn nodes_require_imdsv2_and_encrypted_volumes() {
    let t = template(&StackSettings::default());
    let templates: Vec<_> = resources_of_type(&t, "AWS::EC2::LaunchTemplate").collect();
    assert_eq!(templates.len(), 2);
    for (id, lt) in templates {
        let data = &lt["Properties"]["LaunchTemplateData"];
        assert_eq!(data["MetadataOptions"]["HttpTokens"], "required", "{id}");
        for mapping in data["BlockDeviceMappings"].as_array().expect("mappings") {
            assert_eq!(mapping["Ebs"]["Encrypted"], true, "{id}");
        }
    }
}

#[test]
fn the_watcher_may_terminate_only_this_stacks_coordinators() {
    let t = template(&StackSettings::default());
    let statements =
        t["Resources"]["WatcherRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements");
    let terminate: Vec<&Value> = statements
        .iter()
        .filter(|s| s["Action"].to_string().contains("Terminate"))
        .collect();
    assert_eq!(terminate.len(), 1);
    assert!(
        terminate[0]["Resource"]["Fn::Sub"]
            .as_str()
            .expect("scoped")
            .ends_with("autoScalingGroupName/${CoordinatorGroup}")
    );
    let writes = statements
        .iter()
        .find(|s| s["Action"].to_string().contains("ChangeResourceRecordSets"))
        .expect("record write");
    assert_eq!(
        writes["Resource"],
        sub("arn:${AWS::Partition}:route53:::hostedzone/${HostedZone}")
    );
    for statement in statements.iter().filter(|s| s["Resource"] == "*") {
        let actions = statement["Action"].to_string();
        assert!(
            !actions.contains("Terminate") && !actions.contains("Change"),
            "{statement}"
        );
    }
}

#[test]
fn lambdas_run_on_the_architecture_their_code_was_built_for() {
    for architecture in [LambdaArchitecture::X86_64, LambdaArchitecture::Arm64] {
        let t = template(&StackSettings {
            lambda_architecture: architecture,
            ..StackSettings::default()
        });
        let functions: Vec<_> = resources_of_type(&t, "AWS::Lambda::Function").collect();
        assert_eq!(functions.len(), 3);
        for (id, function) in functions {
            assert_eq!(
                function["Properties"]["Architectures"],
                json!([architecture.as_str()]),
                "{id}"
            );
        }
    }
}

#[test]
fn lambdas_get_the_contract_they_read() {
    let t = template(&StackSettings::default());
    let watcher = &t["Resources"][ids::WATCHER_FUNCTION]["Properties"];
    let variables = watcher["Environment"]["Variables"]
        .as_object()
        .expect("variables");
    let expected = [
        watcher_env::HOSTED_ZONE_ID,
        watcher_env::RECORD_NAME,
        watcher_env::RECORD_TTL,
        watcher_env::COORDINATOR_GROUP,
        watcher_env::PRESTO_PORT,
        watcher_env::PROBE_INTERVAL_SECONDS,
        watcher_env::PROBE_TIMEOUT_SECONDS,
        watcher_env::GRACE_SECONDS,
        watcher_env::REFUSED_SECONDS,
    ];
    assert_eq!(
        variables.keys().map(String::as_str).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(watcher["ReservedConcurrentExecutions"], 1);
    let dns = &t["Resources"][ids::COORDINATOR_DNS];
    assert_eq!(dns["Type"], "Custom::CoordinatorDns");
    assert_eq!(dns["Properties"][dns_resource::TTL], 5);
    // An update's drain counts the old coordinators' queries as a client does:
    // over HTTPS as the admin with TLS on, and only then may it reach that port
    // and read that secret.
    let drain = &dns["Properties"];
    assert_eq!(
        drain[dns_resource::DRAIN_SECONDS],
        r#ref(param::COORDINATOR_DRAIN_SECONDS)
    );
    assert_eq!(drain[dns_resource::CLIENT_PORT], client_port());
    assert_eq!(
        drain[dns_resource::ADMIN_SECRET],
        when(CLIENT_TLS, r#ref(ids::ADMIN_PASSWORD_SECRET))
    );
    assert_eq!(
        drain[dns_resource::CLIENT_AUTHORITY]["Fn::If"][0],
        CLIENT_TLS
    );
    assert_eq!(
        t["Resources"]["CoordinatorFromLambdasOverHttps"]["Condition"],
        CLIENT_TLS
    );
    let role = t["Resources"]["CoordinatorDnsRole"].to_string();
    assert!(role.contains("CountTheOldCoordinatorsQueries"), "{role}");
    for rule in ["WatcherSchedule", "WatcherInstanceStateRule"] {
        assert_eq!(
            t["Resources"][rule]["DependsOn"],
            ids::COORDINATOR_DNS,
            "{rule}"
        );
    }
}

#[test]
fn each_node_boots_the_same_script_with_its_own_settings() {
    let t = template(&StackSettings::default());
    let user_data = |id: &str| {
        let parts = &t["Resources"][id]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
            ["Fn::Join"][1];
        let header = parts[0]["Fn::Sub"][0]
            .as_str()
            .expect("settings")
            .to_owned();
        let body = parts[1].as_str().expect("script").to_owned();
        // Every value CloudFormation fills in counted as a long ARN.
        let filled = header.matches("${").count() * 128;
        assert!(
            header.len() + filled + body.len() < node::USER_DATA_LIMIT_BYTES,
            "{id}: user data over EC2's limit"
        );
        (header, body)
    };
    let (worker, worker_body) = user_data("WorkerLaunchTemplate");
    let (coordinator, coordinator_body) = user_data("CoordinatorLaunchTemplate");
    assert_eq!(worker_body, coordinator_body);
    let record = "${CoordinatorRecordName}.${HostedZoneName}";
    assert!(worker.contains(&format!(
        "ANNOUNCE_HOSTS='{record} member-1.{record} member-2.{record} member-3.{record} member-4.{record} member-5.{record}'"
    )));
    assert!(worker.contains("SIGNAL_RESOURCE='WorkerGroup'"));
    assert!(worker.contains("EXTRA_CONFIG_URI='${AdditionalWorkersConfigurationURI}'"));
    assert!(coordinator.contains("ANNOUNCE_HOSTS='localhost'"));
    assert!(coordinator.contains("SIGNAL_RESOURCE='CoordinatorGroup'"));
    assert!(coordinator.contains("DNS_CACHE_SECONDS='5'"));
    for group in [ids::COORDINATOR_GROUP, ids::WORKER_GROUP] {
        assert_eq!(
            t["Resources"][group]["CreationPolicy"]["ResourceSignal"]["Timeout"],
            NODE_READY_TIMEOUT
        );
    }
}

#[test]
fn nodes_may_read_only_what_the_stack_names() {
    let t = template(&StackSettings::default());
    let statements =
        &t["Resources"]["WorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    let statements = statements.as_array().expect("statements");
    assert_eq!(statements[0]["Effect"], "Deny");
    for conditional in &statements[1..] {
        let condition = conditional["Fn::If"][0].as_str().expect("conditional");
        assert!(t["Conditions"].get(condition).is_some(), "{condition}");
        let allowed = &conditional["Fn::If"][1];
        assert_ne!(allowed["Resource"], "*", "{allowed}");
        assert_eq!(conditional["Fn::If"][2], json!({ "Ref": "AWS::NoValue" }));
    }
    let allowed = |sid: &str| {
        statements
            .iter()
            .map(|s| &s["Fn::If"][1])
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no statement {sid}"))
            .clone()
    };
    // Exactly the named buckets and their objects, the named secrets.
    let names = r#ref(param::DATA_BUCKET_NAMES);
    let buckets = allowed("DataBuckets")["Resource"].to_string();
    let objects = allowed("DataObjects")["Resource"].to_string();
    assert!(
        buckets.contains(&names.to_string()) && buckets.contains(r#""arn:*:s3:::""#),
        "{buckets}"
    );
    assert!(
        objects.contains(r#""/*,arn:*:s3:::""#) && objects.contains(&names.to_string()),
        "{objects}"
    );
    assert_eq!(
        allowed("ConfigurationSecrets")["Resource"],
        r#ref(param::CONFIGURATION_SECRET_ARNS)
    );
}

/// The parameters a custom resource's attributes depend on: its properties, less
/// the function that serves it.
fn custom_parameters_named(template: &Value, resource: &str, found: &mut Vec<String>) {
    let resource = &template["Resources"][resource];
    if resource["Type"]
        .as_str()
        .is_some_and(|t| t.starts_with("Custom::"))
    {
        let mut properties = resource["Properties"].clone();
        properties.as_object_mut().map(|p| p.remove("ServiceToken"));
        parameters_named(template, &properties, found);
    }
}

/// Every parameter `value` names, through `Ref` or an `Fn::Sub` placeholder.
fn parameters_named(template: &Value, value: &Value, found: &mut Vec<String>) {
    let is_parameter = |name: &str| template["Parameters"].get(name).is_some();
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(name)) if is_parameter(name) => found.push(name.clone()),
                    // A custom resource passes its parameters through.
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        let resource = parts[0].as_str().unwrap_or_default();
                        custom_parameters_named(template, resource, found);
                    }
                    // So does a condition.
                    ("Fn::If", Value::Array(parts)) => {
                        let condition = parts[0].as_str().unwrap_or_default();
                        parameters_named(template, &template["Conditions"][condition], found);
                        parameters_named(template, &Value::from(parts[1..].to_vec()), found);
                    }
                    ("Fn::Sub", Value::String(text)) => {
                        for piece in text.split("${").skip(1) {
                            let name = piece.split('}').next().unwrap_or_default();
                            if is_parameter(name) {
                                found.push(name.to_owned());
                            } else if let Some((resource, _)) = name.split_once('.') {
                                custom_parameters_named(template, resource, found);
                            }
                        }
                    }
                    ("Fn::Sub", Value::Array(parts)) => {
                        let text = json!({ "Fn::Sub": parts[0] });
                        parameters_named(template, &text, found);
                        parameters_named(template, &parts[1], found);
                    }
                    _ => parameters_named(template, inner, found),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                parameters_named(template, item, found);
            }
        }
        _ => {}
    }
}

#[test]
fn only_the_documented_parameters_change_the_coordinator_launch_template() {
    let t = template(&StackSettings::default());
    let mut found = Vec::new();
    parameters_named(&t, &t["Resources"]["CoordinatorLaunchTemplate"], &mut found);
    found.sort();
    found.dedup();
    let mut documented: Vec<String> = COORDINATOR_DEFINING_PARAMETERS
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    documented.sort();
    assert_eq!(found, documented);
}

#[test]
fn workers_roll_one_at_a_time_and_the_image_is_pinned_for_every_node() {
    let t = template(&StackSettings::default());
    let workers = &t["Resources"][ids::WORKER_GROUP];
    let rolling = &workers["UpdatePolicy"]["AutoScalingRollingUpdate"];
    assert_eq!(rolling["MaxBatchSize"], 1);
    assert_eq!(
        rolling["MinInstancesInService"],
        r#ref(param::WORKERS_COUNT)
    );
    // The room for the extra worker of a rolling update: the maximum, which
    // `generate` requires above the minimum.
    assert_eq!(
        workers["Properties"]["MaxSize"],
        r#ref(param::WORKERS_MAX_COUNT)
    );
    assert!(workers["Properties"]["DesiredCapacity"].is_null());
    let scaling = &t["Resources"]["WorkerScaling"]["Properties"];
    assert_eq!(scaling["AutoScalingGroupName"], r#ref(ids::WORKER_GROUP));
    assert_eq!(
        scaling["TargetTrackingConfiguration"]["TargetValue"],
        r#ref(param::WORKERS_TARGET_CPU_PERCENT)
    );
    let settings = StackSettings {
        workers_max: Some(2),
        ..StackSettings::default()
    };
    assert_eq!(
        settings.validate().map_err(|e| e.to_string()),
        Err("--workers-max (2) must exceed --workers (2): a rolling update needs one worker above the minimum".to_owned())
    );
    for id in ["CoordinatorLaunchTemplate", "WorkerLaunchTemplate"] {
        assert_eq!(
            t["Resources"][id]["Properties"]["LaunchTemplateData"]["ImageId"],
            get_att(ids::PINNED_IMAGE, image_resource::PINNED_IMAGE_ID),
            "{id}"
        );
    }
    assert_eq!(
        t["Resources"][ids::PINNED_IMAGE]["Type"],
        "Custom::PinnedImage"
    );
}

#[test]
fn a_coordinator_serves_before_it_counts_and_the_warm_pool_keeps_prepared_ones() {
    let t = template(&StackSettings::default());
    let hooks =
        &t["Resources"][ids::COORDINATOR_GROUP]["Properties"]["LifecycleHookSpecificationList"];
    assert_eq!(
        hooks,
        &json!([{
            "LifecycleHookName": node::LAUNCH_HOOK,
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
            "HeartbeatTimeout": LAUNCH_HOOK_SECONDS,
            "DefaultResult": "ABANDON",
        }])
    );
    assert_eq!(
        NODE_READY_TIMEOUT,
        format!("PT{}M", LAUNCH_HOOK_SECONDS / 60)
    );
    let pool = &t["Resources"]["CoordinatorWarmPool"];
    assert_eq!(pool["Condition"], HAS_WARM_POOL);
    assert_eq!(
        pool["Properties"]["AutoScalingGroupName"],
        r#ref(ids::COORDINATOR_GROUP)
    );
    assert_eq!(
        pool["Properties"]["MinSize"],
        r#ref(param::COORDINATOR_WARM_POOL_SIZE)
    );
    assert_eq!(pool["Properties"]["PoolState"], "Stopped");
    // A coordinator completes its own group's hook, found by the group's tags.
    let launch = t["Resources"]["CoordinatorRole"]["Properties"]["Policies"]
        .as_array()
        .expect("policies")
        .iter()
        .find(|p| p["PolicyName"] == "launch")
        .expect("the launch policy")
        .clone();
    let statement = &launch["PolicyDocument"]["Statement"][1];
    assert_eq!(statement["Action"], "autoscaling:CompleteLifecycleAction");
    assert_eq!(
        statement["Condition"]["StringEquals"]["autoscaling:ResourceTag/aws:cloudformation:logical-id"],
        ids::COORDINATOR_GROUP
    );
}
