using System.Collections.Concurrent;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri.Testing;
using Xunit.Abstractions;

namespace SeccompEbpf.Nri.Tests;

/// <summary>The NRI 0.10+ events (pod update, validation), Shutdown, and StateChange carrying a non-notification event.</summary>
public sealed class Nri010EventTests(ITestOutputHelper output)
{
    private sealed class Nri010Plugin : IUpdatePodSandboxHandler, IPostUpdatePodSandboxHandler, IValidateContainerAdjustmentHandler
    {
        public ConcurrentQueue<string> Seen { get; } = new();

        public ValueTask UpdatePodSandboxAsync(PodSandbox pod, LinuxResources? overheadResources, LinuxResources? resources, CancellationToken ct)
        {
            Seen.Enqueue($"UpdatePodSandbox {pod.Id} cpus={resources?.Cpu?.Cpus}");
            return ValueTask.CompletedTask;
        }

        public ValueTask PostUpdatePodSandboxAsync(PodSandbox pod, CancellationToken ct)
        {
            Seen.Enqueue($"PostUpdatePodSandbox {pod.Id}");
            return ValueTask.CompletedTask;
        }

        public ValueTask<ValidateContainerAdjustmentResponse> ValidateContainerAdjustmentAsync(ValidateContainerAdjustmentRequest request, CancellationToken ct)
        {
            Seen.Enqueue($"Validate {request.Container.Id}");
            bool hasSeccomp = request.Adjust?.Linux?.SeccompPolicy is not null;
            return ValueTask.FromResult(new ValidateContainerAdjustmentResponse { Reject = hasSeccomp, Reason = hasSeccomp ? "no seccomp changes here" : "" });
        }
    }

    [Fact]
    public async Task PodUpdateAndValidationEventsReachTheirHandlers()
    {
        var plugin = new Nri010Plugin();
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        ConfigureResponse configured = await runtime.HandshakeAsync("containerd", "v2.3.0", "v0.12.0");

        await runtime.CallAsync("UpdatePodSandbox", new UpdatePodSandboxRequest { Pod = new PodSandbox { Id = "p1" }, LinuxResources = new LinuxResources { Cpu = new LinuxCPU { Cpus = "0-1" } } }, UpdatePodSandboxResponse.Parser);
        await runtime.CallAsync("PostUpdatePodSandbox", new PostUpdatePodSandboxRequest { Pod = new PodSandbox { Id = "p2" } }, PostUpdatePodSandboxResponse.Parser);
        await runtime.CallAsync("StateChange", new StateChangeEvent { Event = Event.PostUpdatePodSandbox, Pod = new PodSandbox { Id = "p3" } }, Empty.Parser);
        var adjust = new ContainerAdjustment { Linux = new LinuxContainerAdjustment { SeccompPolicy = new LinuxSeccomp { DefaultAction = "SCMP_ACT_ERRNO" } } };
        ValidateContainerAdjustmentResponse verdict = await runtime.CallAsync(
            "ValidateContainerAdjustment", new ValidateContainerAdjustmentRequest { Pod = new PodSandbox(), Container = new Container { Id = "c1" }, Adjust = adjust }, ValidateContainerAdjustmentResponse.Parser);

        Assert.Equal(0x800 | 0x1000 | 0x2000, configured.Events);
        Assert.Equal(["UpdatePodSandbox p1 cpus=0-1", "PostUpdatePodSandbox p2", "PostUpdatePodSandbox p3", "Validate c1"], plugin.Seen);
        Assert.True(verdict.Reject);
        Assert.Equal("no seccomp changes here", verdict.Reason);
    }

    [Fact]
    public async Task ShutdownIsAnsweredAndStateChangeRejectsNonNotificationEvents()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();

        await runtime.CallAsync("Shutdown", new Empty(), Empty.Parser);
        var error = await Assert.ThrowsAsync<NriStatusException>(() =>
            runtime.CallAsync("StateChange", new StateChangeEvent { Event = Event.CreateContainer, Pod = new PodSandbox(), Container = new Container() }, Empty.Parser));

        Assert.Equal(NriStatusCode.InvalidArgument, error.Code);
        Assert.Contains("CreateContainer (4)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SynchronizeWithoutAHandlerIsAnsweredEmpty()
    {
        await using var harness = new PluginHarness(new StartOnlyPlugin(), output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.Registration;
        await runtime.ConfigureAsync();

        SynchronizeResponse response = await runtime.SynchronizeAsync([new PodSandbox { Id = "p" }], [new Container { Id = "c" }]);

        Assert.Empty(response.Update);
        Assert.False(response.More);
    }
}
