using SeccompEbpf.Daemon;

namespace SeccompEbpf.E2E.Tests.Kubernetes;

/// <summary>The kubernetes and metrics configuration sections: defaults, and every bad value named by its key.</summary>
public sealed class KubernetesOptionsTests
{
    private static DaemonOptions Bind(string json) => DaemonOptionsJson.Bind(json);

    [Fact]
    public void Defaults_leave_metrics_off_and_kubernetes_on_auto()
    {
        var options = Bind("{}");
        Assert.Empty(options.Validate());
        Assert.Equal("auto", options.Kubernetes.EnabledMode);
        Assert.False(options.Metrics.Enabled);
        Assert.Equal("127.0.0.1", options.Metrics.ListenAddress);
        Assert.Equal("default", options.Kubernetes.OnProfileRemoved);
    }

    [Fact]
    public void A_json_boolean_is_accepted_for_kubernetes_enabled()
    {
        Assert.Equal("true", Bind("""{"kubernetes":{"enabled":true}}""").Kubernetes.EnabledMode);
        Assert.Equal("false", Bind("""{"kubernetes":{"enabled":false}}""").Kubernetes.EnabledMode);
    }

    public static TheoryData<string, string> BadValues() => new()
    {
        { """{"kubernetes":{"enabled":"sometimes"}}""", "kubernetes.enabled" },
        { """{"kubernetes":{"kubeconfig":"relative/kubeconfig"}}""", "kubernetes.kubeconfig" },
        { """{"kubernetes":{"nodeName":"Not_A_Node"}}""", "kubernetes.nodeName" },
        { """{"kubernetes":{"namespace":"-bad-"}}""", "kubernetes.namespace" },
        { """{"kubernetes":{"onProfileRemoved":"explode"}}""", "kubernetes.onProfileRemoved" },
        { """{"kubernetes":{"eventsPerMinute":0}}""", "kubernetes.eventsPerMinute" },
        { """{"kubernetes":{"watchTimeoutSeconds":0}}""", "kubernetes.watchTimeoutSeconds" },
        { """{"kubernetes":{"initialSyncTimeoutSeconds":-1}}""", "kubernetes.initialSyncTimeoutSeconds" },
        { """{"metrics":{"listenAddress":"localhost"}}""", "metrics.listenAddress" },
        { """{"metrics":{"port":70000}}""", "metrics.port" },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public void A_bad_value_is_reported_naming_its_key(string json, string key)
    {
        var problem = Assert.Single(Bind(json).Validate());
        Assert.StartsWith(key + ":", problem);
    }

    [Fact]
    public void An_unknown_key_in_the_kubernetes_section_is_an_error()
    {
        var error = Assert.ThrowsAny<InvalidOperationException>(() => Bind("""{"kubernetes":{"podWatch":true}}"""));
        Assert.Contains("podWatch", error.Message);
    }
}
