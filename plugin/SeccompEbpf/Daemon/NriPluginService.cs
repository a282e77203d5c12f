using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SeccompEbpf.Nri;

namespace SeccompEbpf.Daemon;

/// <summary>Runs the NRI plugin for the daemon's lifetime; a pre-installed plugin's lost connection stops the daemon.</summary>
internal sealed partial class NriPluginService(
    NriPlugin plugin, NriPluginOptions options, IHostApplicationLifetime lifetime, ILogger<NriPluginService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        plugin.StateChanged += state => LogState(state.ToString());
        try
        {
            await plugin.RunAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception e)
        {
            LogFailed(e);
            Environment.ExitCode = 1;
        }
        if (!stoppingToken.IsCancellationRequested && options.InheritedSocketFd is not null)
        {
            // containerd launched us over a socketpair; once it is closed, the next containerd launches a fresh copy.
            LogPreinstalledClosed();
            lifetime.StopApplication();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await plugin.DisposeAsync().ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "NRI connection: {State}")]
    private partial void LogState(string state);

    [LoggerMessage(Level = LogLevel.Critical, Message = "NRI plugin failed")]
    private partial void LogFailed(Exception e);

    [LoggerMessage(Level = LogLevel.Information, Message = "containerd closed the pre-installed plugin's connection; exiting")]
    private partial void LogPreinstalledClosed();
}
