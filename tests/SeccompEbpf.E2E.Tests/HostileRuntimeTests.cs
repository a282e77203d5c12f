using System.Buffers.Binary;
using System.Net.Sockets;

namespace SeccompEbpf.E2E.Tests;

/// <summary>
/// The daemon against a hostile "runtime": a test socket (a fake, not containerd) that answers the plugin's
/// connection with malformed NRI mux/ttrpc bytes. The daemon must drop that connection with a logged reason,
/// keep running and connect again.
/// </summary>
public sealed class HostileRuntimeTests : IAsyncLifetime
{
    private readonly string _dir = Path.Join("/tmp", "sebpf-h-" + Guid.NewGuid().ToString("N")[..8]);
    private string SocketPath => Path.Join(_dir, "nri.sock");

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(_dir);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await new DaemonConfig(_dir, SocketPath).DetachAsync();
        Directory.Delete(_dir, recursive: true);
    }

    public static TheoryData<string, byte[]> Payloads()
    {
        var garbage = new byte[1024];
        new Random(7).NextBytes(garbage);

        // A mux frame on conn 1 carrying a ttrpc header that announces a 256 MiB message.
        var oversized = new byte[8 + 10];
        BinaryPrimitives.WriteUInt32BigEndian(oversized, 1);
        BinaryPrimitives.WriteUInt32BigEndian(oversized.AsSpan(4), 10);
        BinaryPrimitives.WriteUInt32BigEndian(oversized.AsSpan(8), 256u << 20);
        BinaryPrimitives.WriteUInt32BigEndian(oversized.AsSpan(12), 1);
        oversized[16] = 1;

        // A mux header that promises more payload than any frame may carry, then closes the stream mid-frame.
        var truncated = new byte[8 + 3];
        BinaryPrimitives.WriteUInt32BigEndian(truncated, 1);
        BinaryPrimitives.WriteUInt32BigEndian(truncated.AsSpan(4), 0xFFFFFFF0);

        return new TheoryData<string, byte[]> { { "garbage", garbage }, { "oversized ttrpc message", oversized }, { "impossible mux length", truncated } };
    }

    [Theory]
    [MemberData(nameof(Payloads))]
    public async Task Malformed_bytes_close_the_connection_with_a_reason_and_the_daemon_reconnects(string name, byte[] payload)
    {
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen();
        await using var daemon = DaemonProcess.Start(new DaemonConfig(_dir, SocketPath));

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using (var first = await listener.AcceptAsync(timeout.Token))
        {
            await first.SendAsync(payload, SocketFlags.None, timeout.Token);
            // The plugin must give up on this connection by itself (EOF), not hang on it.
            var sink = new byte[4096];
            while (await first.ReceiveAsync(sink, SocketFlags.None, timeout.Token) > 0)
            {
            }
        }

        using var second = await listener.AcceptAsync(timeout.Token);
        Assert.False(daemon.HasExited, $"daemon exited after {name}:\n{daemon.Tail()}");
        var reason = await daemon.WaitForAsync(
            e => e.Category.StartsWith("SeccompEbpf.Nri", StringComparison.Ordinal) && e.Message.StartsWith("Closing NRI connection", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), $"a log line naming why the connection was dropped ({name})");
        Assert.False(string.IsNullOrWhiteSpace(reason.Message));
        Assert.DoesNotContain(daemon.Entries, e => e.Level == "Critical");
    }
}
