using Google.Protobuf;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri.Testing;
using Xunit.Abstractions;

namespace SeccompEbpf.Nri.Tests;

/// <summary>The plugin stub against the fake runtime (the same library with the roles swapped) over a unix socket.</summary>
public sealed class NriPluginTests(ITestOutputHelper output)
{
    private static PodSandbox Pod(string id) => new() { Id = id, Name = id, Namespace = "default" };

    private static Container Ctr(string id, uint pid = 0) => new() { Id = id, PodSandboxId = "p1", Name = id, Pid = pid };

    [Fact]
    public async Task ConfigureBeforeTheRegisterPluginReplyIsServed()
    {
        var plugin = new RecordingPlugin();
        await using var harness = new PluginHarness(plugin, output);
        var holdReply = new TaskCompletionSource();
        FakeRuntimeConnection runtime = await harness.ConnectAsync(c => c.HoldRegistrationReply = holdReply.Task);

        RegisterPluginRequest registration = await runtime.Registration.WaitAsync(TimeSpan.FromSeconds(15));
        ConfigureResponse configured = await runtime.ConfigureAsync();
        holdReply.SetResult();

        Assert.Equal("test-plugin", registration.PluginName);
        Assert.Equal("50", registration.PluginIdx);
        Assert.Equal(0x7FF, configured.Events);
        Assert.Equal("Configure", await plugin.NextEventAsync());
        Assert.Equal(new NriRuntimeInfo("containerd", "1.7.24~ds1", null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2)), plugin.ConfiguredWith);
        await harness.WaitForStateAsync<NriConnectionState.Registered>();
        Assert.Equal("containerd", harness.Plugin.Runtime?.Name);
    }

    [Theory]
    [InlineData("1.7.24~ds1", "", 0x20)]
    [InlineData("v2.1.0", "", 0x20)]
    [InlineData("v2.2.0", "", 0x20 | 0x800 | 0x1000)]
    [InlineData("v2.3.0", "v0.12.0", 0x20 | 0x800 | 0x1000)]
    public async Task EventMaskDependsOnTheRuntimeVersion(string runtimeVersion, string nriVersion, int expected)
    {
        await using var harness = new PluginHarness(new PodUpdatePlugin(), output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();

        ConfigureResponse configured = await runtime.HandshakeAsync("containerd", runtimeVersion, nriVersion);

        Assert.Equal(expected, configured.Events);
    }

    [Fact]
    public async Task ConfigureWorksWithoutAConfigureHandlerAndNeverAnswersZero()
    {
        await using var harness = new PluginHarness(new NoHandlersPlugin(), output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();

        ConfigureResponse configured = await runtime.HandshakeAsync("containerd", "v2.2.0");

        Assert.NotEqual(0, configured.Events);
        Assert.Equal(0, configured.Events & ~0x7FF);
    }

    [Fact]
    public async Task SplitSynchronizeIsAcknowledgedAndDeliveredOnce()
    {
        var update = new ContainerUpdate { ContainerId = "c3", IgnoreFailure = true };
        var plugin = new RecordingPlugin { SynchronizeUpdates = [update] };
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.Registration;
        await runtime.ConfigureAsync("containerd", "v2.0.0");

        SynchronizeResponse first = await runtime.SynchronizeAsync([Pod("p1")], [Ctr("c1")], more: true);
        SynchronizeResponse second = await runtime.SynchronizeAsync([Pod("p2")], [Ctr("c2")], more: true);
        SynchronizeResponse last = await runtime.SynchronizeAsync([], [Ctr("c3")], more: false);

        Assert.True(first.More);
        Assert.Empty(first.Update);
        Assert.True(second.More);
        Assert.Empty(second.Update);
        Assert.False(last.More);
        Assert.Equal([update], last.Update);
        var delivered = Assert.Single(plugin.Synchronizations);
        Assert.Equal(["p1", "p2"], delivered.Pods.Select(p => p.Id));
        Assert.Equal(["c1", "c2", "c3"], delivered.Containers.Select(c => c.Id));
        var synchronized = await harness.WaitForStateAsync<NriConnectionState.Synchronized>();
        Assert.Equal(new NriConnectionState.Synchronized(2, 3), synchronized);
    }

    [Fact]
    public async Task UnknownMethodAndServiceAreUnimplemented()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();

        var method = await Assert.ThrowsAsync<NriStatusException>(() => runtime.CallAsync("NoSuchEvent", new Empty(), Empty.Parser));
        var service = await Assert.ThrowsAsync<NriStatusException>(() => runtime.CallServiceAsync("nri.pkg.api.v1alpha1.Nope", "Configure", new Empty()));

        Assert.Equal(NriStatusCode.Unimplemented, method.Code);
        Assert.Equal("method NoSuchEvent", method.Message);
        Assert.Equal(NriStatusCode.Unimplemented, service.Code);
        Assert.Equal("service nri.pkg.api.v1alpha1.Nope", service.Message);
    }

    [Fact]
    public async Task RejectedRegistrationIsFatalAndReportsTheRuntimesMessage()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync(c => c.RejectRegistration = "invalid plugin name \"x y\"");

        var error = await Assert.ThrowsAsync<NriRegistrationException>(() => harness.Run!.WaitAsync(TimeSpan.FromSeconds(15)));

        Assert.Equal("invalid plugin name \"x y\"", error.RuntimeMessage);
        await runtime.Closed.WaitAsync(TimeSpan.FromSeconds(15));
        var disconnected = await harness.WaitForStateAsync<NriConnectionState.Disconnected>();
        Assert.IsType<NriRegistrationException>(disconnected.Error);
    }

    [Fact]
    public async Task OversizedResponseIsAnsweredWithResourceExhausted()
    {
        var plugin = new RecordingPlugin
        {
            OnCreate = (_, _, _) =>
            {
                var response = new CreateContainerResponse { Adjust = new ContainerAdjustment() };
                response.Adjust.Annotations["huge"] = new string('x', 5 << 20);
                return ValueTask.FromResult(response);
            },
        };
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();

        var error = await Assert.ThrowsAsync<NriStatusException>(() =>
            runtime.CallAsync("CreateContainer", new CreateContainerRequest { Pod = Pod("p1"), Container = Ctr("c1") }, CreateContainerResponse.Parser));

        Assert.Equal(NriStatusCode.ResourceExhausted, error.Code);
        await runtime.StartContainerAsync(Pod("p1"), Ctr("c1", 42));
    }

    [Fact]
    public async Task LargeAdjustmentArrivesIntactInChunkedFrames()
    {
        string annotation = new('a', 20_000);
        var plugin = RecordingPlugin.AnnotatingCreate(annotation);
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();

        CreateContainerResponse created = await runtime.CallAsync("CreateContainer", new CreateContainerRequest { Pod = Pod("p1"), Container = Ctr("c1") }, CreateContainerResponse.Parser);

        Assert.Equal(annotation, created.Adjust.Annotations["big"]);
    }

    [Fact]
    public async Task DedicatedRpcsAndStateChangeReachTheSameHandlers()
    {
        var plugin = new RecordingPlugin();
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();
        Assert.Equal("Configure", await plugin.NextEventAsync());
        Assert.Equal("Synchronize", await plugin.NextEventAsync());

        await runtime.StartContainerAsync(Pod("p1"), Ctr("c1", 100));
        await runtime.CallAsync("StateChange", new StateChangeEvent { Event = Event.StartContainer, Pod = Pod("p1"), Container = Ctr("c2", 200) }, Empty.Parser);
        await runtime.CallAsync("RunPodSandbox", new RunPodSandboxRequest { Pod = Pod("p9") }, RunPodSandboxResponse.Parser);
        await runtime.CallAsync("StateChange", new StateChangeEvent { Event = Event.RunPodSandbox, Pod = Pod("p8") }, Empty.Parser);
        await runtime.CallAsync("RemoveContainer", new RemoveContainerRequest { Pod = Pod("p1"), Container = Ctr("c1") }, RemoveContainerResponse.Parser);
        await runtime.CallAsync("StateChange", new StateChangeEvent { Event = Event.RemoveContainer, Pod = Pod("p1"), Container = Ctr("c2") }, Empty.Parser);

        Assert.Equal("StartContainer c1 pid 100", await plugin.NextEventAsync());
        Assert.Equal("StartContainer c2 pid 200", await plugin.NextEventAsync());
        Assert.Equal("RunPodSandbox p9", await plugin.NextEventAsync());
        Assert.Equal("RunPodSandbox p8", await plugin.NextEventAsync());
        Assert.Equal("RemoveContainer c1", await plugin.NextEventAsync());
        Assert.Equal("RemoveContainer c2", await plugin.NextEventAsync());
    }

    [Fact]
    public async Task EventsWithoutAHandlerGetEmptyReplies()
    {
        var plugin = new StartOnlyPlugin();
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        ConfigureResponse configured = await runtime.HandshakeAsync();

        CreateContainerResponse created = await runtime.CallAsync("CreateContainer", new CreateContainerRequest { Pod = Pod("p1"), Container = Ctr("c1") }, CreateContainerResponse.Parser);
        await runtime.CallAsync("StateChange", new StateChangeEvent { Event = Event.PostStartContainer, Pod = Pod("p1"), Container = Ctr("c1") }, Empty.Parser);
        await runtime.StartContainerAsync(Pod("p1"), Ctr("c1", 7));

        Assert.Equal(0x20, configured.Events);
        Assert.Equal(new CreateContainerResponse(), created);
        Assert.Equal(1, plugin.Starts);
    }

    [Fact]
    public async Task VetoIsAnsweredWithPermissionDeniedAndTheMessageVerbatim()
    {
        var plugin = new RecordingPlugin { OnStart = (_, c, _) => throw new NriVetoException($"container {c.Id}: seccomp profile \"x\" not found") };
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();

        var error = await Assert.ThrowsAsync<NriStatusException>(() => runtime.StartContainerAsync(Pod("p1"), Ctr("c1", 5)));

        Assert.Equal(NriStatusCode.PermissionDenied, error.Code);
        Assert.Equal("container c1: seccomp profile \"x\" not found", error.Message);
    }

    [Fact]
    public async Task HandlersSeeTheTimeoutTheRuntimeGaveTheirRequest()
    {
        // containerd 1.7 leaves Configure's request timeout at 0; the per-request timeout_nano is the real limit.
        var seen = new TaskCompletionSource<TimeSpan?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var plugin = new RecordingPlugin { OnStart = (_, _, _) => { seen.TrySetResult(NriRequestDeadline.Timeout); return ValueTask.CompletedTask; } };
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();

        await runtime.CallAsync("StartContainer", new StartContainerRequest { Pod = Pod("p1"), Container = Ctr("c1", 9) }, StartContainerResponse.Parser, timeout: TimeSpan.FromMilliseconds(4321));

        Assert.Equal(TimeSpan.FromMilliseconds(4321), await seen.Task.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Null(NriRequestDeadline.Timeout);
    }

    [Fact]
    public async Task HandlerExceedingTimeoutNanoIsCancelled()
    {
        var cancelled = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var plugin = new RecordingPlugin
        {
            OnStart = async (_, _, ct) =>
            {
                try
                {
                    await Task.Delay(Timeout.Infinite, ct);
                }
                catch (OperationCanceledException)
                {
                    cancelled.TrySetResult(true);
                    throw;
                }
            },
        };
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();

        var error = await Assert.ThrowsAsync<NriStatusException>(() => runtime.CallAsync(
            "StartContainer",
            new StartContainerRequest { Pod = Pod("p1"), Container = Ctr("c1", 9) },
            StartContainerResponse.Parser,
            timeout: TimeSpan.FromMilliseconds(100),
            replyWait: TimeSpan.FromSeconds(30)));

        Assert.True(await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(NriStatusCode.DeadlineExceeded, error.Code);
    }

    [Fact]
    public async Task UpdateContainersFromInsideAHandlerIsQueuedAndDoesNotDeadlock()
    {
        NriPlugin? nri = null;
        IReadOnlyList<ContainerUpdate>? insideResult = null;
        var plugin = new RecordingPlugin
        {
            OnStart = async (_, c, ct) =>
            {
                var update = new ContainerUpdate { ContainerId = c.Id, Linux = new LinuxContainerUpdate { Resources = new LinuxResources { Cpu = new LinuxCPU { Shares = new OptionalUInt64 { Value = 256 } } } } };
                insideResult = await nri!.UpdateContainersAsync([update], [], ct);
            },
        };
        await using var harness = new PluginHarness(plugin, output);
        nri = harness.Plugin;
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();

        // The fake runtime holds its lock during the call, as containerd does: awaiting the update inside would time out.
        await runtime.StartContainerAsync(Pod("p1"), Ctr("c1", 77));
        UpdateContainersRequest received = await runtime.UpdateRequests.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15));

        Assert.NotNull(insideResult);
        Assert.Empty(insideResult);
        Assert.Equal("c1", Assert.Single(received.Update).ContainerId);
        Assert.Equal(256ul, received.Update[0].Linux.Resources.Cpu.Shares.Value);
    }

    [Fact]
    public async Task UpdateContainersOutsideHandlersReturnsTheFailedUpdates()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync(c => c.UpdateReply = r =>
        {
            var reply = new UpdateContainersResponse();
            reply.Failed.Add(r.Update.Where(u => u.ContainerId == "gone"));
            return reply;
        });
        await runtime.HandshakeAsync();

        IReadOnlyList<ContainerUpdate> failed = await harness.Plugin.UpdateContainersAsync(
            [new ContainerUpdate { ContainerId = "c1" }, new ContainerUpdate { ContainerId = "gone" }],
            [new ContainerEviction { ContainerId = "c9", Reason = "policy" }],
            CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(15));

        UpdateContainersRequest received = await runtime.UpdateRequests.Reader.ReadAsync();
        Assert.Equal("gone", Assert.Single(failed).ContainerId);
        Assert.Equal("c9", Assert.Single(received.Evict).ContainerId);
    }

    [Fact]
    public async Task UpdateContainersWhileDisconnectedThrows()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        await Assert.ThrowsAsync<NriConnectionException>(async () => await harness.Plugin.UpdateContainersAsync([], [], CancellationToken.None));
    }

    [Fact]
    public async Task ReconnectsAfterTheRuntimeGoesAwayIncludingAStaleSocketFile()
    {
        var plugin = new RecordingPlugin();
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection first = await harness.ConnectAsync();
        await first.HandshakeAsync();
        await harness.WaitForStateAsync<NriConnectionState.Registered>();

        // containerd stops: the connection ends, the socket file stays and refuses connections.
        harness.Runtime.StopListening();
        await first.DisposeAsync();
        var disconnected = await harness.WaitForStateAsync<NriConnectionState.Disconnected>();
        Assert.Contains("closed", disconnected.Reason, StringComparison.Ordinal);
        Assert.True(File.Exists(harness.Runtime.SocketPath));
        await harness.Log.WaitForAsync("not listening on", "ConnectionRefused");

        harness.Runtime.Listen();
        FakeRuntimeConnection second = await harness.Runtime.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(15));
        await second.HandshakeAsync();
        await second.StartContainerAsync(Pod("p1"), Ctr("c1", 1234));

        Assert.Equal("test-plugin", (await second.Registration).PluginName);
        Assert.Contains("StartContainer c1 pid 1234", await DrainAsync(plugin));
        Assert.False(harness.Run!.IsCompleted);
    }

    [Fact]
    public async Task ALateSynchronizeReplyClosesTheConnectionAndTheNextRegistrationSynchronizesAgain()
    {
        // containerd gives up on a Synchronize reply after its request timeout but keeps the socket open and sends no
        // further events: the plugin must notice its own late reply and register again.
        var plugin = new RecordingPlugin();
        plugin.SynchronizeDelays.Enqueue(TimeSpan.FromMilliseconds(700));
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection first = await harness.ConnectAsync();
        await first.Registration;
        await first.CallAsync("Configure", new ConfigureRequest { RuntimeName = "containerd", RuntimeVersion = "1.7.24~ds1", RequestTimeout = 300 }, ConfigureResponse.Parser);
        await first.SynchronizeAsync([Pod("p1")], [Ctr("c1", 1234)]);

        Exception reason = await first.Closed.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Contains("peer closed", reason.Message, StringComparison.Ordinal);
        await harness.Log.WaitForAsync("beyond the runtime's request timeout of 300 ms");
        var disconnected = await harness.WaitForStateAsync<NriConnectionState.Disconnected>();
        Assert.Contains("Synchronize reply was late", disconnected.Reason, StringComparison.Ordinal);

        FakeRuntimeConnection second = await harness.Runtime.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(15));
        await second.HandshakeAsync();
        await second.StartContainerAsync(Pod("p2"), Ctr("c2", 4321));
        Assert.Contains("StartContainer c2 pid 4321", await DrainAsync(plugin));
        Assert.Equal(2, plugin.Synchronizations.Count);
    }

    [Fact]
    public async Task ASynchronizeReplyInTimeKeepsTheConnection()
    {
        var plugin = new RecordingPlugin();
        plugin.SynchronizeDelays.Enqueue(TimeSpan.FromMilliseconds(50));
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.Registration;
        await runtime.CallAsync("Configure", new ConfigureRequest { RuntimeName = "containerd", RuntimeVersion = "1.7.24~ds1", RequestTimeout = 2000 }, ConfigureResponse.Parser);
        await runtime.SynchronizeAsync([], []);
        await harness.WaitForStateAsync<NriConnectionState.Synchronized>();
        await runtime.StartContainerAsync(Pod("p1"), Ctr("c1", 1234));
        Assert.Contains("StartContainer c1 pid 1234", await DrainAsync(plugin));
        Assert.False(runtime.Closed.IsCompleted);
    }

    [Fact]
    public async Task MissingSocketIsLoggedOnceAndRetriedUntilTheRuntimeAppears()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output, listen: false);
        _ = harness.StartPlugin();

        await harness.Log.WaitForAsync("no socket at", harness.Runtime.SocketPath);
        var refused = await harness.WaitForStateAsync<NriConnectionState.Disconnected>();
        await harness.WaitForStateAsync<NriConnectionState.Disconnected>();
        harness.Runtime.Listen();
        FakeRuntimeConnection runtime = await harness.Runtime.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(15));
        await runtime.HandshakeAsync();

        Assert.Contains("no socket at", refused.Reason, StringComparison.Ordinal);
        var notReachable = harness.Log.Entries.Where(e => e.Message.StartsWith("NRI runtime not reachable: no socket at", StringComparison.Ordinal)).ToList();
        Assert.True(notReachable.Count >= 2, "the plugin should have retried at least once");
        Assert.Single(notReachable, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Information);
    }

    [Fact]
    public async Task PreInstalledModeServesAnInheritedFdAndEndsWhenItCloses()
    {
        var log = new TestLog(output);
        (System.Net.Sockets.Socket runtimeEnd, int pluginFd) = SocketPair.Create(closeOnExec: false);
        Assert.False(SeccompEbpf.Nri.Interop.Fcntl.IsCloseOnExec(pluginFd));
        var plugin = new RecordingPlugin();
        var options = NriPluginOptions.FromEnvironment(
            key => key switch { "NRI_PLUGIN_SOCKET" => pluginFd.ToString(System.Globalization.CultureInfo.InvariantCulture), "NRI_PLUGIN_NAME" => "seccomp", "NRI_PLUGIN_IDX" => "07", _ => null },
            "/opt/nri/plugins/07-seccomp",
            null);
        await using var nri = new NriPlugin(plugin, options, log.For<NriPlugin>());
        Task run = nri.RunAsync(CancellationToken.None);

        await using var runtime = new FakeRuntimeConnection(runtimeEnd, log.Logger("FakeRuntime"));
        runtime.Start();
        RegisterPluginRequest registration = await runtime.Registration.WaitAsync(TimeSpan.FromSeconds(15));
        ConfigureResponse configured = await runtime.ConfigureAsync();
        await runtime.StartContainerAsync(Pod("p1"), Ctr("c1", 4242));
        bool cloexecWhileConnected = SeccompEbpf.Nri.Interop.Fcntl.IsCloseOnExec(pluginFd);
        await runtime.DisposeAsync();

        await run.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(cloexecWhileConnected, "the inherited fd should be marked close-on-exec so child processes do not keep the runtime's connection open");
        Assert.Equal("seccomp", registration.PluginName);
        Assert.Equal("07", registration.PluginIdx);
        Assert.Equal(0x7FF, configured.Events);
        Assert.Contains("StartContainer c1 pid 4242", await DrainAsync(plugin));
        await Assert.ThrowsAsync<InvalidOperationException>(() => nri.RunAsync(CancellationToken.None));
    }

    [Fact]
    public async Task ConcurrentRequestsAreServedConcurrentlyAndRepliesMatchedByStreamId()
    {
        var secondDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var plugin = new RecordingPlugin
        {
            OnCreate = async (_, c, ct) =>
            {
                // The first request finishes only after the second one was answered: replies leave out of order.
                if (c.Id == "first")
                {
                    await secondDone.Task.WaitAsync(ct);
                }

                var response = new CreateContainerResponse { Adjust = new ContainerAdjustment() };
                response.Adjust.Annotations["for"] = c.Id;
                return response;
            },
        };
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();

        Task<CreateContainerResponse> first = runtime.CallAsync("CreateContainer", new CreateContainerRequest { Pod = Pod("p"), Container = Ctr("first") }, CreateContainerResponse.Parser, holdRuntimeLock: false);
        CreateContainerResponse second = await runtime.CallAsync("CreateContainer", new CreateContainerRequest { Pod = Pod("p"), Container = Ctr("second") }, CreateContainerResponse.Parser, holdRuntimeLock: false);
        secondDone.SetResult();

        Assert.Equal("second", second.Adjust.Annotations["for"]);
        Assert.Equal("first", (await first.WaitAsync(TimeSpan.FromSeconds(15))).Adjust.Annotations["for"]);
    }

    [Fact]
    public async Task RuntimeDisconnectCancelsRunningHandlers()
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var plugin = new RecordingPlugin
        {
            OnStart = async (_, _, ct) =>
            {
                started.SetResult();
                try
                {
                    await Task.Delay(Timeout.Infinite, ct);
                }
                catch (OperationCanceledException)
                {
                    cancelled.SetResult();
                    throw;
                }
            },
        };
        await using var harness = new PluginHarness(plugin, output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();

        Task call = runtime.StartContainerAsync(Pod("p1"), Ctr("c1", 1));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await runtime.DisposeAsync();

        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await Assert.ThrowsAsync<NriConnectionException>(() => call);
    }

    [Fact]
    public async Task DisposeStopsRunAsyncAndClosesTheConnection()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        FakeRuntimeConnection runtime = await harness.ConnectAsync();
        await runtime.HandshakeAsync();

        await harness.Plugin.DisposeAsync();

        await harness.Run!.WaitAsync(TimeSpan.FromSeconds(15));
        Exception reason = await runtime.Closed.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Contains("closed", reason.Message, StringComparison.Ordinal);
        Assert.Null(harness.Plugin.Runtime);
    }

    private static async Task<List<string>> DrainAsync(RecordingPlugin plugin)
    {
        var events = new List<string>();
        while (plugin.Events.Reader.TryRead(out string? e))
        {
            events.Add(e);
        }

        return await Task.FromResult(events);
    }
}
