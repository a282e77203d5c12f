using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;

namespace SeccompEbpf.Daemon;

/// <summary>
/// Owns the enforcement engine for the daemon's lifetime. The engine may be unavailable (no BPF, not root): the daemon
/// still follows containers and reports every managed one as not enforced, with this reason.
/// </summary>
internal sealed partial class EngineHost : IDisposable
{
    public EngineHost(DaemonOptions options, ILoggerFactory loggers, ILogger<EngineHost> logger)
    {
        var engineOptions = new EngineOptions
        {
            PinRoot = options.Enforcement.PinRoot,
            OnUnenforceable = PolicyOf(options.Enforcement.OnUnenforceable),
            LogEventsPerSecondPerContainer = options.Enforcement.LogEventsPerSecondPerContainer,
        };
        try
        {
            Engine = EnforcementEngine.Open(engineOptions, loggers);
            LogOpened(logger, options.Enforcement.PinRoot, Engine.Capabilities.KernelRelease, Engine.Bindings.Count);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Failure = e.Message;
            LogUnavailable(logger, e.Message);
        }
    }

    /// <summary>The engine's policy for a validated enforcement.onUnenforceable value.</summary>
    public static UnenforceablePolicy PolicyOf(string onUnenforceable) => onUnenforceable switch
    {
        "refuse" => UnenforceablePolicy.Refuse,
        "degrade-to-kill" => UnenforceablePolicy.DegradeToKill,
        "degrade-to-log" => UnenforceablePolicy.DegradeToLog,
        _ => UnenforceablePolicy.LogUnpreventableDefault, // validated: log-unpreventable-default
    };

    public EnforcementEngine? Engine { get; }

    public string? Failure { get; }

    public void Dispose() => Engine?.Dispose();

    [LoggerMessage(Level = LogLevel.Information, Message = "Enforcement engine ready: pins in {PinRoot}, kernel {Kernel}, {Adopted} bindings adopted")]
    private static partial void LogOpened(ILogger logger, string pinRoot, string kernel, int adopted);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Enforcement engine unavailable; no container will be enforced: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string reason);
}
