using Microsoft.Extensions.Logging;
using SeccompEbpf.Nri.Testing;
using Xunit.Abstractions;

namespace SeccompEbpf.Nri.Tests;

/// <summary>A fake runtime listening on a short temp path plus a plugin running against it in external mode.</summary>
internal sealed class PluginHarness : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();

    public PluginHarness(object handlers, ITestOutputHelper output, Action<NriPluginOptions>? configure = null, bool listen = true)
    {
        Log = new TestLog(output);
        Runtime = FakeNriRuntime.Create(Log.Logger("FakeRuntime"), listen);
        Options = new NriPluginOptions
        {
            SocketPath = Runtime.SocketPath,
            Name = "test-plugin",
            Index = "50",
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(20),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
        };
        configure?.Invoke(Options);
        Plugin = new NriPlugin(handlers, Options, Log.For<NriPlugin>());
        Plugin.StateChanged += s => States.Writer.TryWrite(s);
    }

    public TestLog Log { get; }

    public FakeNriRuntime Runtime { get; }

    public NriPluginOptions Options { get; }

    public NriPlugin Plugin { get; }

    /// <summary>Every state the plugin reported, in order.</summary>
    public System.Threading.Channels.Channel<NriConnectionState> States { get; } = System.Threading.Channels.Channel.CreateUnbounded<NriConnectionState>();

    /// <summary>Skips states until one of type <typeparamref name="T"/> arrives.</summary>
    public async Task<T> WaitForStateAsync<T>() where T : NriConnectionState
    {
        while (true)
        {
            NriConnectionState state = await States.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15));
            if (state is T match)
            {
                return match;
            }
        }
    }

    public Task? Run { get; private set; }

    public Task StartPlugin()
    {
        Run = Plugin.RunAsync(_stop.Token);
        return Run;
    }

    /// <summary>Starts the plugin and accepts its connection.</summary>
    public async Task<FakeRuntimeConnection> ConnectAsync(Action<FakeRuntimeConnection>? setup = null)
    {
        Run ??= StartPlugin();
        return await Runtime.AcceptAsync(setup).WaitAsync(TimeSpan.FromSeconds(15));
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        if (Run is not null)
        {
            try
            {
                await Run.WaitAsync(TimeSpan.FromSeconds(15));
            }
            catch (NriRegistrationException)
            {
            }
        }

        await Plugin.DisposeAsync();
        await Runtime.DisposeAsync();
    }
}
