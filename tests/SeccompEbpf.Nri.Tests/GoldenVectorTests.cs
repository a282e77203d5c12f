using System.Buffers;
using Google.Protobuf;
using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri.Mux;
using SeccompEbpf.Nri.Ttrpc;
using SeccompEbpf.Nri.Ttrpc.Wire;
using Xunit.Abstractions;
using static SeccompEbpf.Nri.Tests.RawRuntimePeer;

namespace SeccompEbpf.Nri.Tests;

/// <summary>The bytes captured live from containerd 1.7.24 (nri-protocol.md §4.5 and §14).</summary>
public sealed class GoldenVectorTests(ITestOutputHelper output)
{
    private const string RegisterPluginFrame =
        "00000002 00000047 0000003d 00000001 0100"
        + " 0a1c 6e72692e706b672e6170692e7631616c706861312e52756e74696d65"
        + " 120e 5265676973746572506c7567696e"
        + " 1a0d 0a07 707970726f746f 1202 3530";

    private const string RegisterOkReplyFrame = "00000002 0000000a 00000000 00000001 0200";

    private const string RejectionMessage = "invalid plugin index: invalid plugin index \"5\", must be 2 digits";

    private const string RejectionReplyFrame =
        "00000002 00000050 00000046 00000001 0200"
        + " 0a44 0802 1240 696e76616c696420706c7567696e20696e6465783a20696e76616c696420706c7567696e20696e646578202235222c206d757374206265203220646967697473";

    private const string ConfigureRequestFrame =
        "00000001 00000052 00000048 00000001 0100"
        + " 0a1b 6e72692e706b672e6170692e7631616c706861312e506c7567696e"
        + " 1209 436f6e666967757265"
        + " 1a18 120a 636f6e7461696e657264 1a0a 312e372e32347e647331"
        + " 20 9dd1d2b907";

    private const string ConfigureResponseFrame = "00000001 0000000f 00000005 00000001 0200 1203 10ff0f";

    [Fact]
    public void RegisterPluginRequestEncodesToTheCapturedBytes()
    {
        var request = new Request
        {
            Service = "nri.pkg.api.v1alpha1.Runtime",
            Method = "RegisterPlugin",
            Payload = new RegisterPluginRequest { PluginName = "pyproto", PluginIdx = "50" }.ToByteString(),
        };
        var writer = new ArrayBufferWriter<byte>();
        MuxFrame.WriteFrames(MuxFrame.RuntimeServiceConnection, TtrpcBytes(1, TtrpcMessageType.Request, request), writer);

        Assert.Equal(Hex(RegisterPluginFrame), writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void RejectionReplyDecodesToStatusTwoWithTheRuntimesMessage()
    {
        byte[] frame = Hex(RejectionReplyFrame);
        var response = Response.Parser.ParseFrom(frame.AsSpan(MuxFrame.HeaderLength + TtrpcFrame.HeaderLength));

        Assert.Equal(2, response.Status.Code);
        Assert.Equal(RejectionMessage, response.Status.Message);
    }

    [Fact]
    public void VetoAnswerEncodesToTheCapturedErrorBytes()
    {
        var status = TtrpcStatusMapper.ToStatus(new NriVetoException("denied"), deadlinePassed: false);
        byte[] bytes = new Response { Status = status }.ToByteArray();

        Assert.Equal(Hex("0a0a 0807 1206 64656e696564"), bytes);
    }

    [Fact]
    public async Task PluginSpeaksTheCapturedHandshakeByteForByte()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output, o => { o.Name = "pyproto"; o.Index = "50"; });
        _ = harness.StartPlugin();
        await using var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync());

        byte[] register = await peer.ReadExactlyAsync(Hex(RegisterPluginFrame).Length);
        Assert.Equal(Hex(RegisterPluginFrame), register);

        // containerd's order: Configure overtakes the RegisterPlugin reply.
        await peer.SendRawAsync(Hex(ConfigureRequestFrame));
        byte[] configured = await peer.ReadExactlyAsync(Hex(ConfigureResponseFrame).Length);
        await peer.SendRawAsync(Hex(RegisterOkReplyFrame));

        Assert.Equal(Hex(ConfigureResponseFrame), configured);
        var registered = await harness.WaitForStateAsync<NriConnectionState.Registered>();
        Assert.Equal("1.7.24~ds1", registered.Runtime.Version);
        Assert.Equal(0x7FF, registered.EventMask);
    }

    [Fact]
    public async Task CapturedRejectionReplyIsFatalAndReportsTheRuntimesMessage()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output, o => { o.Name = "pyproto"; o.Index = "50"; });
        Task run = harness.StartPlugin();
        await using var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync());
        await peer.ReadExactlyAsync(Hex(RegisterPluginFrame).Length);

        await peer.SendRawAsync(Hex(RejectionReplyFrame));

        var error = await Assert.ThrowsAsync<NriRegistrationException>(() => run.WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(RejectionMessage, error.RuntimeMessage);
        Assert.Equal(NriStatusCode.Unknown, error.Code);
        await peer.WaitForCloseAsync();
    }

    [Fact]
    public async Task VetoIsAnsweredWithTheCapturedErrorBytes()
    {
        var plugin = new RecordingPlugin { OnStart = (_, _, _) => throw new NriVetoException("denied") };
        await using var harness = new PluginHarness(plugin, output);
        _ = harness.StartPlugin();
        await using var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync());
        await peer.AcceptRegistrationAsync();

        await peer.SendRequestAsync(1, "StartContainer", new StartContainerRequest { Pod = new PodSandbox(), Container = new Container { Id = "c1" } });
        (uint connection, TtrpcHeader header, byte[] payload) = await peer.ReadMessageAsync();

        Assert.Equal(MuxFrame.PluginServiceConnection, connection);
        Assert.Equal(new TtrpcHeader(12, 1, TtrpcMessageType.Response, 0), header);
        Assert.Equal(Hex("0a0a 0807 1206 64656e696564"), payload);
    }

    [Fact]
    public async Task LargeResponseReachesTheWireInMuxFramesOfAtMost4096Bytes()
    {
        string annotation = new('z', 20_000);
        var plugin = RecordingPlugin.AnnotatingCreate(annotation);
        await using var harness = new PluginHarness(plugin, output);
        _ = harness.StartPlugin();
        await using var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync());
        await peer.AcceptRegistrationAsync();

        // ReadResponseAsync throws on any mux frame over 4096 payload bytes (what kills a Go runtime's reader).
        await peer.SendRequestAsync(1, "CreateContainer", new CreateContainerRequest { Pod = new PodSandbox(), Container = new Container { Id = "c1" } });
        Response response = await peer.ReadResponseAsync(1);

        Assert.Null(response.Status);
        Assert.Equal(annotation, CreateContainerResponse.Parser.ParseFrom(response.Payload).Adjust.Annotations["big"]);
    }

    [Fact]
    public async Task ConcurrentCallsPutIncreasingOddStreamIdsOnTheWireAndMatchRepliesById()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        _ = harness.StartPlugin();
        await using var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync());
        await peer.AcceptRegistrationAsync();
        await harness.Log.WaitForAsync("Registered with the NRI runtime");

        const int Calls = 16;
        Task<IReadOnlyList<ContainerUpdate>>[] calls = Enumerable.Range(0, Calls)
            .Select(i => Task.Run(async () => await harness.Plugin.UpdateContainersAsync([new ContainerUpdate { ContainerId = $"c{i}" }], [], CancellationToken.None)))
            .ToArray();

        var received = new List<(uint StreamId, string ContainerId)>();
        for (int i = 0; i < Calls; i++)
        {
            (uint connection, TtrpcHeader header, byte[] payload) = await peer.ReadMessageAsync();
            Assert.Equal(MuxFrame.RuntimeServiceConnection, connection);
            Assert.Equal(TtrpcMessageType.Request, header.Type);
            Request request = Request.Parser.ParseFrom(payload);
            Assert.Equal("UpdateContainers", request.Method);
            received.Add((header.StreamId, UpdateContainersRequest.Parser.ParseFrom(request.Payload).Update[0].ContainerId));
        }

        // Stream 1 was RegisterPlugin; the calls follow as 3, 5, 7, ... in wire order.
        Assert.Equal(Enumerable.Range(0, Calls).Select(i => (uint)(3 + (2 * i))), received.Select(r => r.StreamId));

        // Answer in reverse order, echoing each container as "failed" so every caller can check it got its own reply.
        foreach ((uint streamId, string containerId) in Enumerable.Reverse(received))
        {
            var reply = new UpdateContainersResponse();
            reply.Failed.Add(new ContainerUpdate { ContainerId = containerId });
            await peer.SendAsync(MuxFrame.RuntimeServiceConnection, TtrpcBytes(streamId, TtrpcMessageType.Response, new Response { Payload = reply.ToByteString() }));
        }

        for (int i = 0; i < Calls; i++)
        {
            Assert.Equal($"c{i}", Assert.Single(await calls[i].WaitAsync(TimeSpan.FromSeconds(15))).ContainerId);
        }
    }
}
