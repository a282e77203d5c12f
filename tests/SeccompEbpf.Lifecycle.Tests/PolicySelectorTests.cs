using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>Selection is a pure function of the annotations, the pod's live annotations and the defaults.</summary>
public sealed class PolicySelectorTests
{
    private static readonly PolicySelector Selector = new(defaultProfile: "runtime/default", honourLegacyAnnotations: false);

    [Fact]
    public void LiveAnnotationsOfTheSamePodReplaceTheRuntimesCopy()
    {
        var pod = Pod("p1", new Dictionary<string, string> { [PolicyAnnotations.Profile] = "old", ["team"] = "a" });
        var live = new LivePodAnnotations(pod.Uid, new Dictionary<string, string> { [PolicyAnnotations.Profile] = "new", [PolicyAnnotations.Mode] = "audit" });

        var selection = Selector.Select(pod, Container("c1", "p1"), live);

        Assert.Equal(("new", PolicyMode.Audit), (selection.ProfileReference, selection.Mode));
        Assert.Equal("a", PolicySelector.WithLive(pod, live).Annotations["team"]); // other annotations stay
    }

    [Fact]
    public void LiveAnnotationsOfAnotherPodOfTheSameNameAreIgnored()
    {
        var pod = Pod("p1", new Dictionary<string, string> { [PolicyAnnotations.Profile] = "old" });
        var live = new LivePodAnnotations("uid-of-a-newer-pod", new Dictionary<string, string> { [PolicyAnnotations.Profile] = "new" });

        Assert.Equal("old", Selector.Select(pod, Container("c1", "p1"), live).ProfileReference);
    }

    [Fact]
    public void RemovedLiveAnnotationsFallBackToTheDefault()
    {
        var pod = Pod("p1", new Dictionary<string, string> { [PolicyAnnotations.Profile] = "old" });
        var live = new LivePodAnnotations(pod.Uid, new Dictionary<string, string>());

        var selection = Selector.Select(pod, Container("c1", "p1"), live);

        Assert.Equal(("runtime/default", "the configured default profile"), (selection.ProfileReference, selection.ProfileSource));
    }

    [Fact]
    public void TheSameInputsGiveTheSameSelection()
    {
        var pod = Pod("p1", new Dictionary<string, string> { [PolicyAnnotations.Profile] = "web" });
        var container = Container("c1", "p1", annotations: new Dictionary<string, string> { [PolicyAnnotations.Mode] = "off" });

        Assert.Equal(Selector.Select(pod, container), Selector.Select(pod, container));
        Assert.Equal(PolicyMode.Off, Selector.Select(pod, container).Mode);
    }
}
