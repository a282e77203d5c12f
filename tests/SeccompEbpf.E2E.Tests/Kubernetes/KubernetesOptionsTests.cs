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
        Assert.Equal(KubernetesActivation.Auto, options.Kubernetes.Activation);
        Assert.False(options.Metrics.Enabled);
        Assert.Equal("127.0.0.1", options.Metrics.ListenAddress);
        Assert.Equal(ProfileRemovedAction.FallBackToDefault, options.Kubernetes.ProfileRemoved);
    }

    [Fact]
    public void A_json_boolean_is_accepted_for_kubernetes_enabled()
    {
        Assert.Equal(KubernetesActivation.On, Bind("""{"kubernetes":{"enabled":true}}""").Kubernetes.Activation);
        Assert.Equal(KubernetesActivation.Off, Bind("""{"kubernetes":{"enabled":false}}""").Kubernetes.Activation);
        Assert.Equal(KubernetesActivation.On, Bind("""{"kubernetes":{"enabled":"true"}}""").Kubernetes.Activation);
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

    [Theory]
    [InlineData("""{"kubernetes":{"enabled":"sometimes"}}""", "kubernetes.enabled: \"sometimes\" must be auto, true or false")]
    [InlineData("""{"kubernetes":{"onProfileRemoved":"Keep"}}""", "kubernetes.onProfileRemoved: \"Keep\" must be default or keep")]
    public void A_closed_set_value_outside_the_set_names_every_choice(string json, string problem)
    {
        var options = Bind(json);
        Assert.Equal(problem, Assert.Single(options.Validate()));
        // Reading the parsed value of an unvalidated file fails the same way, never as a default.
        Assert.Equal(problem, Assert.ThrowsAny<InvalidOperationException>(() => (options.Kubernetes.Activation, options.Kubernetes.ProfileRemoved)).Message);
    }

    [Fact]
    public void Keep_keeps_the_last_version_of_a_removed_profile()
        => Assert.Equal(ProfileRemovedAction.KeepLastVersion, Bind("""{"kubernetes":{"onProfileRemoved":"keep"}}""").Kubernetes.ProfileRemoved);

    [Fact]
    public void An_unknown_key_in_the_kubernetes_section_is_an_error()
    {
        var error = Assert.ThrowsAny<InvalidOperationException>(() => Bind("""{"kubernetes":{"podWatch":true}}"""));
        Assert.Contains("podWatch", error.Message);
    }
}
