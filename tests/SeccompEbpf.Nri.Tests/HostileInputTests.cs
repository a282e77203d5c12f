using Nri.Pkg.Api.V1Alpha1;
using SeccompEbpf.Nri.Mux;
using SeccompEbpf.Nri.Ttrpc;
using SeccompEbpf.Nri.Ttrpc.Wire;
using Xunit.Abstractions;
using static SeccompEbpf.Nri.Tests.RawRuntimePeer;

namespace SeccompEbpf.Nri.Tests;

/// <summary>
/// A hostile or broken runtime. Framing faults close the connection with a logged reason and the external-mode
/// plugin reconnects; per-request faults are answered on their stream (as Go's ttrpc does) and the connection lives on.
/// </summary>
public sealed class HostileInputTests(ITestOutputHelper output)
{
    public static TheoryData<string, string, string> FramingFaults => new()
    {
        // name, bytes on the trunk, fragment of the logged reason
        { "unknown ttrpc message type", "00000001 0000000a 00000000 00000001 07 00", "message type 0x07" },
        { "response sent to the server", "00000001 0000000a 00000000 00000001 02 00", "message type 0x02" },
        { "request sent to the client", "00000002 0000000a 00000000 00000009 01 00", "message type 0x01" },
        { "mux length over the limit", "00000001 7fffffff 00", "declares 2147483647 payload bytes" },
        { "connection ends inside a mux frame", "00000001 00000064 0102030405", "inside a mux frame" },
    };

    [Theory]
    [MemberData(nameof(FramingFaults))]
    public async Task FramingFaultClosesWithALoggedReasonAndThePluginReconnects(string fault, string bytes, string reason)
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        _ = harness.StartPlugin();
        await using (var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync()))
        {
            await peer.AcceptRegistrationAsync();
            await peer.SendRawAsync(Hex(bytes));
            if (fault == "connection ends inside a mux frame")
            {
                await peer.DisposeAsync();
            }
            else
            {
                await peer.WaitForCloseAsync();
            }
        }

        string logged = await harness.Log.WaitForAsync("Closing NRI connection", reason);
        Assert.Contains("protocol error", logged, StringComparison.Ordinal);
        await AssertReconnectsAsync(harness);
    }

    [Fact]
    public async Task GarbageBytesCloseTheConnectionAndThePluginReconnects()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        _ = harness.StartPlugin();
        await using (var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync()))
        {
            await peer.AcceptRegistrationAsync();
            byte[] garbage = new byte[4096];
            new Random(42).NextBytes(garbage);
            garbage[0] = 0x00;
            garbage[1] = 0x00;
            garbage[2] = 0x00;
            garbage[3] = 0x01;
            garbage[4] = 0xEE; // mux length far over the limit
            await peer.SendRawAsync(garbage);
            await peer.WaitForCloseAsync();
        }

        await harness.Log.WaitForAsync("Closing NRI connection: protocol error");
        await AssertReconnectsAsync(harness);
    }

    [Fact]
    public async Task EvenStreamIdIsAnsweredWithInvalidArgumentAndTheConnectionLivesOn()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        _ = harness.StartPlugin();
        await using var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync());
        await peer.AcceptRegistrationAsync();

        await peer.SendRequestAsync(2, "Configure", new ConfigureRequest { RuntimeName = "containerd", RuntimeVersion = "v2.0.0" });
        Response rejected = await peer.ReadResponseAsync(2);
        await peer.SendRequestAsync(1, "Configure", new ConfigureRequest { RuntimeName = "containerd", RuntimeVersion = "v2.0.0" });
        Response configured = await peer.ReadResponseAsync(1);

        Assert.Equal((int)NriStatusCode.InvalidArgument, rejected.Status.Code);
        Assert.Equal("StreamID must be odd for client initiated streams", rejected.Status.Message);
        Assert.Null(configured.Status);
        Assert.Equal(0x7FF, ConfigureResponse.Parser.ParseFrom(configured.Payload).Events);
        await harness.Log.WaitForAsync("stream ID 2 is even");
    }

    [Fact]
    public async Task ReusedStreamIdIsAnsweredWithInvalidArgumentAndTheConnectionLivesOn()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        _ = harness.StartPlugin();
        await using var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync());
        await peer.AcceptRegistrationAsync();

        await peer.SendRequestAsync(5, "Configure", new ConfigureRequest { RuntimeName = "containerd", RuntimeVersion = "v2.0.0" });
        Assert.Null((await peer.ReadResponseAsync(5)).Status);
        await peer.SendRequestAsync(5, "Synchronize", new SynchronizeRequest());
        Response reused = await peer.ReadResponseAsync(5);
        await peer.SendRequestAsync(3, "Synchronize", new SynchronizeRequest());
        Response lower = await peer.ReadResponseAsync(3);
        await peer.SendRequestAsync(7, "Synchronize", new SynchronizeRequest());
        Response next = await peer.ReadResponseAsync(7);

        Assert.Equal((int)NriStatusCode.InvalidArgument, reused.Status.Code);
        Assert.Equal("StreamID cannot be re-used and must increment", reused.Status.Message);
        Assert.Equal((int)NriStatusCode.InvalidArgument, lower.Status.Code);
        Assert.Null(next.Status);
        await harness.Log.WaitForAsync("stream ID 5 is not above the last one");
    }

    [Fact]
    public async Task UndecodableEnvelopeAndPayloadAreAnsweredWithInvalidArgument()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        _ = harness.StartPlugin();
        await using var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync());
        await peer.AcceptRegistrationAsync();

        // A ttrpc request whose envelope is not protobuf (a truncated length-delimited field).
        await peer.SendAsync(MuxFrame.PluginServiceConnection, Hex("00000003 00000001 01 00 0a 7f 41"));
        Response badEnvelope = await peer.ReadResponseAsync(1);

        // A valid envelope whose NRI payload is not a ConfigureRequest.
        var request = new Request { Service = "nri.pkg.api.v1alpha1.Plugin", Method = "Configure", Payload = Google.Protobuf.ByteString.CopyFrom(0x0a, 0xff, 0xff) };
        await peer.SendAsync(MuxFrame.PluginServiceConnection, TtrpcBytes(3, TtrpcMessageType.Request, request));
        Response badPayload = await peer.ReadResponseAsync(3);

        Assert.Equal((int)NriStatusCode.InvalidArgument, badEnvelope.Status.Code);
        Assert.StartsWith("unmarshal request error", badEnvelope.Status.Message, StringComparison.Ordinal);
        Assert.Equal((int)NriStatusCode.InvalidArgument, badPayload.Status.Code);
        Assert.StartsWith("unmarshal Configure request", badPayload.Status.Message, StringComparison.Ordinal);
        await harness.Log.WaitForAsync("undecodable envelope");
        await harness.Log.WaitForAsync("unmarshal Configure request");
    }

    [Fact]
    public async Task MessageOver4MiBIsDiscardedAndAnsweredWithResourceExhausted()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        _ = harness.StartPlugin();
        await using var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync());
        await peer.AcceptRegistrationAsync();

        int length = TtrpcFrame.MaxMessageLength + 100;
        byte[] oversized = new byte[TtrpcFrame.HeaderLength + length];
        Hex($"{length:x8} 00000001 01 00").CopyTo(oversized, 0);
        await peer.SendAsync(MuxFrame.PluginServiceConnection, oversized);
        Response exhausted = await peer.ReadResponseAsync(1);
        await peer.SendRequestAsync(3, "Configure", new ConfigureRequest { RuntimeName = "containerd", RuntimeVersion = "1.7.24~ds1" });
        Response configured = await peer.ReadResponseAsync(3);

        Assert.Equal((int)NriStatusCode.ResourceExhausted, exhausted.Status.Code);
        Assert.Equal($"message length {length} exceed maximum message size of {TtrpcFrame.MaxMessageLength}", exhausted.Status.Message);
        Assert.Null(configured.Status);
        await harness.Log.WaitForAsync("exceed the 4194304-byte limit");
    }

    [Fact]
    public async Task FramesForUnknownConnectionIdsAreDropped()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        _ = harness.StartPlugin();
        await using var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync());
        await peer.AcceptRegistrationAsync();

        await peer.SendRawAsync(Hex("00000000 00000002 abcd 00000009 00000003 010203"));
        await peer.SendRequestAsync(1, "Configure", new ConfigureRequest { RuntimeName = "containerd", RuntimeVersion = "1.7.24~ds1" });
        Response configured = await peer.ReadResponseAsync(1);

        Assert.Null(configured.Status);
        await harness.Log.WaitForAsync("Dropping 3 bytes for unopened mux connection 9");
    }

    [Fact]
    public async Task UndecodableRegisterPluginReplyIsNotARejectionTheConnectionIsClosedAndRetried()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output);
        _ = harness.StartPlugin();
        await using (var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync()))
        {
            await peer.ReadMessageAsync();
            await peer.SendAsync(MuxFrame.RuntimeServiceConnection, Hex("00000003 00000001 02 00 0a 7f 41"));
            await peer.WaitForCloseAsync();
        }

        await harness.Log.WaitForAsync("Closing NRI connection: protocol error", "undecodable ttrpc response on stream 1");
        await AssertReconnectsAsync(harness);
    }

    [Fact]
    public async Task RuntimeThatNeverAnswersRegistrationIsDroppedAndRetried()
    {
        await using var harness = new PluginHarness(new RecordingPlugin(), output, o => o.RuntimeCallTimeout = TimeSpan.FromMilliseconds(200));
        _ = harness.StartPlugin();
        await using (var peer = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync()))
        {
            await peer.ReadMessageAsync();
            await peer.WaitForCloseAsync();
        }

        await harness.Log.WaitForAsync("Closing NRI connection", "registration failed", "RegisterPlugin: no reply");
        await AssertReconnectsAsync(harness);
    }

    private static async Task AssertReconnectsAsync(PluginHarness harness)
    {
        await using var again = new RawRuntimePeer(await harness.Runtime.AcceptRawAsync().WaitAsync(TimeSpan.FromSeconds(15)));
        RegisterPluginRequest registration = await again.AcceptRegistrationAsync();
        Assert.Equal("test-plugin", registration.PluginName);
        Assert.False(harness.Run!.IsFaulted);
    }
}
