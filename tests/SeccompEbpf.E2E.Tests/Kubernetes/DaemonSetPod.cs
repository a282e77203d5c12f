using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using SeccompEbpf.Cri.V1;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>
/// What a kubelet would ask the CRI for, to run config/kubernetes/daemonset.yaml's pod on one node: its sandbox and
/// container configuration. A field this translation does not express throws, naming it, so the E2E test fails when
/// the manifest grows something the test would silently drop.
/// </summary>
internal sealed class DaemonSetPod
{
    /// <summary>The pod spec's fields (JSON paths, [] for any array element) that become CRI configuration.</summary>
    private static readonly HashSet<string> Translated =
    [
        "hostPID", "hostNetwork", "terminationGracePeriodSeconds",
        "volumes[].name", "volumes[].hostPath.path", "volumes[].hostPath.type", "volumes[].configMap.name",
        "containers[].name", "containers[].image", "containers[].imagePullPolicy", "containers[].command[]", "containers[].args[]",
        "containers[].env[].name", "containers[].env[].value", "containers[].env[].valueFrom.fieldRef.fieldPath",
        "containers[].securityContext.privileged",
        "containers[].resources.requests.cpu", "containers[].resources.limits.memory",
        "containers[].volumeMounts[].name", "containers[].volumeMounts[].mountPath", "containers[].volumeMounts[].readOnly",
        "containers[].volumeMounts[].mountPropagation",
        // The CRI runs no probes: the kubelet does, and so does the test (ProbeAsync), with these same settings.
        "containers[].livenessProbe.httpGet.path", "containers[].livenessProbe.httpGet.port", "containers[].livenessProbe.initialDelaySeconds",
        "containers[].livenessProbe.periodSeconds", "containers[].livenessProbe.failureThreshold",
        "containers[].readinessProbe.httpGet.path", "containers[].readinessProbe.httpGet.port",
        "containers[].readinessProbe.periodSeconds", "containers[].readinessProbe.failureThreshold",
    ];

    /// <summary>Fields the scheduler or the API server acts on before any CRI call; a node never sees them.</summary>
    private static readonly HashSet<string> BeforeTheNode =
    [
        "serviceAccountName", // in-cluster credentials: the test gives the daemon a kubeconfig for its fake API server instead
        "priorityClassName", "tolerations[].operator", "containers[].resources.requests.memory",
        "containers[].ports[].name", "containers[].ports[].containerPort", "containers[].ports[].protocol", // hostNetwork: informational
    ];

    private static readonly HashSet<string> FieldRefs = ["spec.nodeName", "metadata.namespace", "metadata.name", "metadata.uid"];

    private DaemonSetPod(V1DaemonSet daemonSet, V1PodSpec spec, V1Container container)
    {
        DaemonSet = daemonSet;
        Spec = spec;
        Container = container;
    }

    public V1DaemonSet DaemonSet { get; }
    public V1PodSpec Spec { get; }
    public V1Container Container { get; }
    public string Namespace => DaemonSet.Metadata.NamespaceProperty;

    /// <summary>Loads the DaemonSet from <paramref name="objects"/> and checks every field it sets is one this class translates.</summary>
    public static DaemonSetPod From(IReadOnlyList<object> objects)
    {
        var daemonSet = objects.OfType<V1DaemonSet>().Single();
        var spec = daemonSet.Spec.Template.Spec;
        var untranslated = FieldPaths(JsonNode.Parse(KubernetesJson.Serialize(spec))!, "")
            .Where(p => !Translated.Contains(p) && !BeforeTheNode.Contains(p)).Distinct().ToList();
        var metadata = FieldPaths(JsonNode.Parse(KubernetesJson.Serialize(daemonSet.Spec.Template.Metadata))!, "")
            .Where(p => !p.StartsWith("labels.", StringComparison.Ordinal) && !p.StartsWith("annotations.", StringComparison.Ordinal));
        untranslated.AddRange(metadata.Select(p => "metadata." + p));
        if (untranslated.Count > 0)
            throw new NotSupportedException($"daemonset.yaml sets pod fields the E2E translation to CRI does not express: {string.Join(", ", untranslated)}");
        if (spec.Containers.Count != 1 || spec.InitContainers is { Count: > 0 })
            throw new NotSupportedException($"daemonset.yaml has {spec.Containers.Count} containers; the translation handles exactly one");
        return new DaemonSetPod(daemonSet, spec, spec.Containers[0]);
    }

    /// <summary>The sandbox a kubelet would run for this pod on <paramref name="node"/>.</summary>
    public PodSandboxConfig Sandbox(Node node, string uid, uint attempt)
    {
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = $"{DaemonSet.Metadata.Name}-{uid[..5]}", Namespace = Namespace, Uid = uid, Attempt = attempt },
            LogDirectory = Path.Join(node.LogDirectory, uid),
            Linux = new LinuxPodSandboxConfig
            {
                SecurityContext = new LinuxSandboxSecurityContext
                {
                    NamespaceOptions = Namespaces(),
                    Privileged = Container.SecurityContext?.Privileged == true,
                    Seccomp = new SecurityProfile { ProfileType = SecurityProfile.Types.ProfileType.Unconfined },
                },
            },
        };
        foreach (var (k, v) in DaemonSet.Spec.Template.Metadata.Labels ?? new Dictionary<string, string>())
            config.Labels[k] = v;
        foreach (var (k, v) in DaemonSet.Spec.Template.Metadata.Annotations ?? new Dictionary<string, string>())
            config.Annotations[k] = v;
        Directory.CreateDirectory(config.LogDirectory);
        return config;
    }

    /// <summary>The container a kubelet would create in <paramref name="sandbox"/>: image, command, environment, mounts, privileges, resources.</summary>
    public ContainerConfig ContainerConfig(Node node, PodSandboxConfig sandbox, string imageName)
    {
        if (Container.ImagePullPolicy is not ("IfNotPresent" or "Never"))
            throw new NotSupportedException($"imagePullPolicy {Container.ImagePullPolicy}: the test's containerd has no registry, the image is imported");
        var config = new ContainerConfig
        {
            Metadata = new ContainerMetadata { Name = Container.Name, Attempt = sandbox.Metadata.Attempt },
            Image = new ImageSpec { Image = imageName },
            LogPath = Container.Name + ".log",
            Linux = new LinuxContainerConfig
            {
                SecurityContext = new LinuxContainerSecurityContext
                {
                    NamespaceOptions = Namespaces(),
                    Privileged = Container.SecurityContext?.Privileged == true,
                    Seccomp = new SecurityProfile { ProfileType = SecurityProfile.Types.ProfileType.Unconfined },
                },
                Resources = Resources(),
            },
        };
        config.Command.AddRange(Container.Command ?? []);
        config.Args.AddRange(Container.Args ?? []);
        foreach (var env in Container.Env ?? [])
            config.Envs.Add(new KeyValue { Key = env.Name, Value = env.ValueFrom is null ? env.Value ?? "" : FieldRef(env.ValueFrom.FieldRef?.FieldPath, node, sandbox) });
        foreach (var mount in Container.VolumeMounts ?? [])
        {
            var volume = Spec.Volumes.Single(v => v.Name == mount.Name);
            config.Mounts.Add(new Mount
            {
                ContainerPath = mount.MountPath,
                HostPath = HostPathOf(volume, node),
                Readonly = mount.ReadOnlyProperty == true,
                Propagation = mount.MountPropagation switch
                {
                    null or "None" => MountPropagation.PropagationPrivate,
                    "HostToContainer" => MountPropagation.PropagationHostToContainer,
                    "Bidirectional" => MountPropagation.PropagationBidirectional,
                    var other => throw new NotSupportedException($"volumeMount {mount.Name}: mountPropagation {other}"),
                },
            });
        }
        return config;
    }

    /// <summary>How long the kubelet lets the container stop before SIGKILL.</summary>
    public long StopTimeoutSeconds => Spec.TerminationGracePeriodSeconds ?? 30;

    private NamespaceOption Namespaces() => new()
    {
        Pid = Spec.HostPID == true ? NamespaceMode.Node : NamespaceMode.Container,
        // This containerd has no CNI: a pod network cannot be expressed here.
        Network = Spec.HostNetwork == true ? NamespaceMode.Node : throw new NotSupportedException("a pod network (hostNetwork unset): the test's containerd has no CNI"),
    };

    private LinuxContainerResources Resources()
    {
        var resources = new LinuxContainerResources();
        if (Container.Resources?.Limits?.TryGetValue("memory", out var memory) == true)
            resources.MemoryLimitInBytes = memory.ToInt64();
        // The kubelet's conversion: 1 CPU = 1024 shares, at least 2.
        if (Container.Resources?.Requests?.TryGetValue("cpu", out var cpu) == true)
            resources.CpuShares = Math.Max(2, (long)(cpu.ToDecimal() * 1024));
        return resources;
    }

    private string FieldRef(string? path, Node node, PodSandboxConfig sandbox) => path switch
    {
        "spec.nodeName" => node.Name,
        "metadata.namespace" => sandbox.Metadata.Namespace,
        "metadata.name" => sandbox.Metadata.Name,
        "metadata.uid" => sandbox.Metadata.Uid,
        _ => throw new NotSupportedException($"env fieldRef {path} (supported: {string.Join(", ", FieldRefs)})"),
    };

    private static string HostPathOf(V1Volume volume, Node node)
    {
        if (volume.HostPath is { } hostPath)
        {
            var path = node.HostPath(hostPath.Path);
            switch (hostPath.Type)
            {
                case "DirectoryOrCreate":
                    Directory.CreateDirectory(path);
                    break;
                case "Directory" when !Directory.Exists(path):
                    throw new InvalidOperationException($"volume {volume.Name}: hostPath {hostPath.Path} ({path} on this node) is not a directory");
                case "Directory":
                    break;
                default:
                    throw new NotSupportedException($"volume {volume.Name}: hostPath type {hostPath.Type}");
            }
            return path;
        }
        if (volume.ConfigMap is { } configMap)
            return node.ConfigMapDirectory(configMap.Name);
        throw new NotSupportedException($"volume {volume.Name}: only hostPath and configMap volumes are translated");
    }

    /// <summary>Every leaf field set in <paramref name="node"/>, as a dotted path with [] for array elements.</summary>
    private static IEnumerable<string> FieldPaths(JsonNode? node, string prefix) => node switch
    {
        JsonObject o => o.SelectMany(p => FieldPaths(p.Value, prefix.Length == 0 ? p.Key : $"{prefix}.{p.Key}")),
        JsonArray a => a.SelectMany(e => FieldPaths(e, prefix + "[]")),
        null => [],
        _ => [prefix],
    };

    /// <summary>The node the pod lands on: its name, where its host paths really are, and its ConfigMap volumes' files.</summary>
    internal sealed record Node(string Name, string LogDirectory, Func<string, string> HostPath, Func<string, string> ConfigMapDirectory);
}
