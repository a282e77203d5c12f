using static SeccompEbpf.Lifecycle.Tests.LifecycleHarness;

namespace SeccompEbpf.Lifecycle.Tests;

/// <summary>Notices (Kubernetes Events, metrics) are published after the controller's lock is released, in order.</summary>
public sealed class NoticeTests
{
    [Fact]
    public void ASubscriberRunsOutsideTheLockAndMayCallBackFromAnotherThread()
    {
        using var h = new LifecycleHarness();
        h.WriteProfile("web", ReferenceProfile);
        var seen = new List<(PolicyNoticeKind Kind, bool OtherThreadGotIn)>();
        h.Controller.Noticed += n =>
        {
            // Under the lock, a reader on another thread would wait until this handler returned: give it a second. A
            // thread of its own, not the pool: other tests block pool threads, and a queued reader would fail this spuriously.
            var reader = new Thread(() => _ = h.Table.Snapshot().Entries.Count) { IsBackground = true };
            reader.Start();
            seen.Add((n.Kind, reader.Join(TimeSpan.FromSeconds(1))));
        };
        var pod = Pod("p1", new Dictionary<string, string> { [PolicyAnnotations.Profile] = "web" });

        h.CreateAndStart(pod, Container("c1", "p1"));
        Assert.Throws<Nri.NriVetoException>(() => h.Create(Pod("p2", new Dictionary<string, string> { [PolicyAnnotations.Profile] = "missing" }), Container("c2", "p2")));

        Assert.Equal([PolicyNoticeKind.Applied, PolicyNoticeKind.Vetoed], seen.Select(s => s.Kind));
        Assert.All(seen, s => Assert.True(s.OtherThreadGotIn, $"the {s.Kind} notice was published under the controller's lock"));
    }
}
