using System.Text;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Configuration;
using SeccompEbpf.Daemon;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>
/// config/kubernetes parses as Kubernetes objects (KubernetesClient's YAML loader), its daemon configuration is
/// accepted by the daemon's own options binding, and every path that configuration names is mounted.
/// </summary>
public sealed class KubernetesManifestTests
{
    private static readonly string Directory = Path.Join(TestPaths.RepoRoot, "config", "kubernetes");

    private static List<object> LoadAll()
    {
        var files = System.IO.Directory.GetFiles(Directory, "*.yaml").Order().ToList();
        Assert.NotEmpty(files);
        return files.SelectMany(f => KubernetesYaml.LoadAllFromString(File.ReadAllText(f))).ToList();
    }

    private static T Single<T>(IEnumerable<object> objects) => Assert.Single(objects.OfType<T>());

    [Fact]
    public void Every_document_is_a_typed_kubernetes_object_with_a_name()
    {
        var objects = LoadAll();
        Assert.All(objects, o =>
        {
            var typed = Assert.IsAssignableFrom<IKubernetesObject<V1ObjectMeta>>(o);
            Assert.False(string.IsNullOrEmpty(typed.ApiVersion), $"{o.GetType().Name} has no apiVersion");
            Assert.False(string.IsNullOrEmpty(typed.Metadata?.Name), $"{typed.Kind} has no metadata.name");
        });
        foreach (var kind in new[] { typeof(V1Namespace), typeof(V1ServiceAccount), typeof(V1ClusterRole), typeof(V1ClusterRoleBinding), typeof(V1Role), typeof(V1RoleBinding), typeof(V1DaemonSet) })
            Assert.Contains(objects, o => o.GetType() == kind);
        Assert.Equal(2, objects.OfType<V1ConfigMap>().Count());
    }

    [Fact]
    public void The_daemonset_config_is_accepted_by_the_daemon_and_every_path_it_names_is_mounted()
    {
        var objects = LoadAll();
        var daemonSet = Single<V1DaemonSet>(objects);
        var ns = daemonSet.Metadata.NamespaceProperty;
        var pod = daemonSet.Spec.Template.Spec;
        var container = Assert.Single(pod.Containers);
        Assert.True(pod.HostPID, "hostPID is needed: NRI reports host PIDs");
        Assert.True(container.SecurityContext?.Privileged, "the daemon loads BPF programs: privileged");
        Assert.Equal("spec.nodeName", container.Env.Single(e => e.Name == "NODE_NAME").ValueFrom.FieldRef.FieldPath);
        Assert.Equal("metadata.namespace", container.Env.Single(e => e.Name == "POD_NAMESPACE").ValueFrom.FieldRef.FieldPath);

        // The config file the args name comes from the ConfigMap volume mounted there.
        var args = container.Args.ToList();
        Assert.Equal("run", args[0]);
        var configPath = args[args.IndexOf("--config") + 1];
        var configMount = container.VolumeMounts.Single(m => configPath.StartsWith(m.MountPath + "/", StringComparison.Ordinal));
        var configVolume = pod.Volumes.Single(v => v.Name == configMount.Name);
        var configMap = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == configVolume.ConfigMap?.Name && c.Metadata.NamespaceProperty == ns);
        var json = configMap.Data[Path.GetFileName(configPath)];

        // Bound exactly as `seccomp-ebpf run` does: unknown keys and invalid values are errors.
        var options = new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json))).Build()
            .Get<DaemonOptions>(o => o.ErrorOnUnknownConfiguration = true)!;
        Assert.Empty(options.Validate());
        Assert.Equal(KubernetesActivation.On, options.Kubernetes.Activation);
        Assert.True(options.Metrics.Enabled);

        string MountOf(string path, string what)
        {
            var mount = container.VolumeMounts.Where(m => path == m.MountPath || path.StartsWith(m.MountPath + "/", StringComparison.Ordinal))
                .OrderByDescending(m => m.MountPath.Length).FirstOrDefault();
            Assert.True(mount is not null, $"{what} {path} is not under any volumeMount");
            return mount!.Name;
        }
        string HostPathOf(string mountName) => pod.Volumes.Single(v => v.Name == mountName).HostPath?.Path ?? "";

        Assert.Equal("/var/run/nri", HostPathOf(MountOf(Path.GetDirectoryName(options.Nri.SocketPath)!, "nri.socketPath")));
        Assert.Equal("/sys/fs/bpf", HostPathOf(MountOf(options.Enforcement.PinRoot, "enforcement.pinRoot")));
        Assert.Equal("Bidirectional", container.VolumeMounts.Single(m => m.MountPath == "/sys/fs/bpf").MountPropagation);
        Assert.Equal("/var/lib/kubelet/seccomp", HostPathOf(MountOf(options.Policy.KubeletSeccompRoot, "policy.kubeletSeccompRoot")));
        Assert.Equal("/etc/seccomp-ebpf", HostPathOf(MountOf(options.Policy.ProfileDirectory, "policy.profileDirectory")));
        Assert.Equal("/run/seccomp-ebpf", HostPathOf(MountOf(Path.GetDirectoryName(options.Control.SocketPath)!, "control.socketPath")));
        Assert.Equal("/sys/kernel/btf", HostPathOf(MountOf("/sys/kernel/btf", "kernel BTF")));
        Assert.Equal("/sys/fs/cgroup", HostPathOf(MountOf("/sys/fs/cgroup", "the cgroup v2 hierarchy")));

        // Probes hit the endpoints the metrics server serves, on its port.
        Assert.Equal("/healthz", container.LivenessProbe.HttpGet.Path);
        Assert.Equal("/readyz", container.ReadinessProbe.HttpGet.Path);
        Assert.Equal(options.Metrics.Port.ToString(), container.LivenessProbe.HttpGet.Port.Value);
        Assert.Equal(options.Metrics.Port.ToString(), container.ReadinessProbe.HttpGet.Port.Value);
        Assert.Equal(options.Metrics.Port, container.Ports.Single(p => p.Name == "metrics").ContainerPort);
        Assert.Equal("0.0.0.0", options.Metrics.ListenAddress);
    }

    [Fact]
    public void The_daemonset_translates_to_CRI_and_a_pod_field_it_cannot_express_fails_naming_it()
    {
        var objects = LoadAll();
        DaemonSetPod.From(objects); // DaemonSetImageTests runs it
        Single<V1DaemonSet>(objects).Spec.Template.Spec.DnsPolicy = "ClusterFirstWithHostNet";
        var refused = Assert.Throws<NotSupportedException>(() => DaemonSetPod.From(objects));
        Assert.Contains("dnsPolicy", refused.Message);
    }

    [Fact]
    public void Rbac_grants_exactly_pods_read_events_create_and_configmaps_read_in_the_daemon_namespace()
    {
        var objects = LoadAll();
        var daemonSet = Single<V1DaemonSet>(objects);
        var ns = daemonSet.Metadata.NamespaceProperty;
        var account = Single<V1ServiceAccount>(objects);
        Assert.Equal(daemonSet.Spec.Template.Spec.ServiceAccountName, account.Metadata.Name);
        Assert.Equal(ns, account.Metadata.NamespaceProperty);
        Assert.Equal(ns, Single<V1Namespace>(objects).Metadata.Name);

        var clusterRole = Single<V1ClusterRole>(objects);
        Assert.Equal(2, clusterRole.Rules.Count);
        var pods = clusterRole.Rules.Single(r => r.Resources.SequenceEqual(["pods"]));
        Assert.Equal(["get", "list", "watch"], pods.Verbs.Order());
        var events = clusterRole.Rules.Single(r => r.Resources.SequenceEqual(["events"]));
        Assert.Equal(["create"], events.Verbs);
        Assert.All(clusterRole.Rules, r => Assert.Equal([""], r.ApiGroups));

        var role = Single<V1Role>(objects);
        Assert.Equal(ns, role.Metadata.NamespaceProperty);
        var configMaps = Assert.Single(role.Rules);
        Assert.Equal(["configmaps"], configMaps.Resources);
        Assert.Equal(["get", "list", "watch"], configMaps.Verbs.Order());

        var clusterBinding = Single<V1ClusterRoleBinding>(objects);
        Assert.Equal(clusterRole.Metadata.Name, clusterBinding.RoleRef.Name);
        var roleBinding = Single<V1RoleBinding>(objects);
        Assert.Equal(role.Metadata.Name, roleBinding.RoleRef.Name);
        foreach (var subject in clusterBinding.Subjects.Concat(roleBinding.Subjects))
        {
            Assert.Equal("ServiceAccount", subject.Kind);
            Assert.Equal(account.Metadata.Name, subject.Name);
            Assert.Equal(ns, subject.NamespaceProperty);
        }
    }

    [Fact]
    public void The_example_profile_configmap_is_labelled_in_the_daemon_namespace_and_holds_valid_profiles()
    {
        var objects = LoadAll();
        var ns = Single<V1DaemonSet>(objects).Metadata.NamespaceProperty;
        var profiles = objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Labels is { } labels && labels.TryGetValue("seccomp-ebpf.io/profiles", out var v) && v == "true");
        Assert.Equal(ns, profiles.Metadata.NamespaceProperty);
        Assert.NotEmpty(profiles.Data);
        foreach (var (key, json) in (IDictionary<string, string>)profiles.Data)
        {
            Assert.Matches("^[A-Za-z0-9._-]+\\.json$", key);
            var parsed = ProfileParser.Parse(json);
            Assert.False(parsed.HasErrors, $"{key}: {string.Join("; ", parsed.Diagnostics.Select(d => d.Format(key)))}");
        }
    }
}
