using Microsoft.Extensions.Logging;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Lifecycle;
using SeccompEbpf.Profiles.Compiled;

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
            OnUnenforceable = options.Enforcement.OnUnenforceablePolicy,
            LogEventsPerSecondPerContainer = options.Enforcement.LogEventsPerSecondPerContainer,
            CapabilityRecordPath = CapabilityRecordPath,
        };
        try
        {
            Engine = EnforcementEngine.Open(engineOptions, loggers);
            Enforcement = new EngineEnforcement(Engine);
            LogOpened(logger, options.Enforcement.PinRoot, Engine.Capabilities.KernelRelease, Engine.Bindings.Count);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Failure = e.Message;
            LogUnavailable(logger, e.Message);
        }
    }

    /// <summary>This boot's probe results, so that a restarted daemon skips the probes (tmpfs: gone at reboot).</summary>
    public const string CapabilityRecordPath = "/run/seccomp-ebpf/kernel-capabilities.json";

    /// <summary>The engine's policy for an enforcement.onUnenforceable value.</summary>
    /// <exception cref="InvalidOperationException">Not one of the values; the message names the key and the values.</exception>
    public static UnenforceablePolicy PolicyOf(string onUnenforceable) => DaemonOptions.EnforcementSection.OnUnenforceableChoices.Parse(onUnenforceable);

    public EnforcementEngine? Engine { get; }

    /// <summary>The engine as the lifecycle logic sees it; null exactly when <see cref="Engine"/> is.</summary>
    public IEnforcement? Enforcement { get; }

    public string? Failure { get; }

    public void Dispose() => Engine?.Dispose();

    // Forwards the seam to the engine; see IEnforcement for why the engine does not implement it itself.
    private sealed class EngineEnforcement(EnforcementEngine engine) : IEnforcement
    {
        public IReadOnlyList<BindingInfo> Bindings => engine.Bindings;

        public BindingReport Bind(ulong cgroupId, CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor) => engine.Bind(cgroupId, profile, mode, floor);

        public BindingReport Rebind(ulong cgroupId, CompiledProfile profile, EnforcementMode mode, SeccompFloor? floor) => engine.Rebind(cgroupId, profile, mode, floor);

        public void Unbind(ulong cgroupId) => engine.Unbind(cgroupId);

        public void StartRecording(ulong cgroupId) => engine.StartRecording(cgroupId);

        public void RecordArguments(ulong cgroupId, IReadOnlyList<ArgumentToRecord> arguments) => engine.RecordArguments(cgroupId, arguments);

        public void StopRecording(ulong cgroupId) => engine.StopRecording(cgroupId);

        public SyscallRecording? ReadRecording(ulong cgroupId) => engine.ReadRecording(cgroupId);

        public BindingReport SetShadow(ulong cgroupId, CompiledProfile profile) => engine.SetShadow(cgroupId, profile);

        public void ClearShadow(ulong cgroupId) => engine.ClearShadow(cgroupId);

        public ShadowCounts? ReadShadow(ulong cgroupId) => engine.ReadShadow(cgroupId);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Enforcement engine ready: pins in {PinRoot}, kernel {Kernel}, {Adopted} bindings adopted")]
    private static partial void LogOpened(ILogger logger, string pinRoot, string kernel, int adopted);

    [LoggerMessage(Level = LogLevel.Critical, Message = "Enforcement engine unavailable; no container will be enforced: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string reason);
}
