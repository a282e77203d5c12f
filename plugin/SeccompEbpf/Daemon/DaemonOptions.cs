using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using SeccompEbpf.Bpf.Enforcement;

namespace SeccompEbpf.Daemon;

/// <summary>The daemon's configuration file (JSON; default /etc/seccomp-ebpf/config.json).</summary>
internal sealed partial class DaemonOptions
{
    public const string DefaultConfigPath = "/etc/seccomp-ebpf/config.json";

    public NriSection Nri { get; set; } = new();

    public PolicyOptions Policy { get; set; } = new();

    public EnforcementSection Enforcement { get; set; } = new();

    public ControlSection Control { get; set; } = new();

    /// <summary>The BPF engine's settings.</summary>
    internal sealed class EnforcementSection
    {
        /// <summary>bpffs directory holding the pinned programs and maps; enforcement survives the daemon there.</summary>
        public string PinRoot { get; set; } = "/sys/fs/bpf/seccomp-ebpf";

        /// <summary>
        /// What to do with an action this kernel can neither prevent nor kill for: log-unpreventable-default (default:
        /// the profile's default action runs logged and is counted as not prevented, other actions are refused),
        /// refuse (strict), degrade-to-kill or degrade-to-log. Real allowlists have an ERRNO default that no kernel can
        /// prevent for every syscall (docs/enforcement.md), so a strict default would veto them everywhere.
        /// </summary>
        public string OnUnenforceable { get; set; } = LogUnpreventableDefault;

        public const string LogUnpreventableDefault = "log-unpreventable-default";

        /// <summary>The spellings of <see cref="OnUnenforceable"/> (also those of <c>profile plan --on-unenforceable</c>).</summary>
        public static readonly ConfigChoices<UnenforceablePolicy> OnUnenforceableChoices = new("enforcement.onUnenforceable", ignoreCase: false,
            (LogUnpreventableDefault, UnenforceablePolicy.LogUnpreventableDefault),
            ("refuse", UnenforceablePolicy.Refuse),
            ("degrade-to-kill", UnenforceablePolicy.DegradeToKill),
            ("degrade-to-log", UnenforceablePolicy.DegradeToLog));

        /// <summary><see cref="OnUnenforceable"/> parsed; valid once <see cref="Validate"/> found no problem.</summary>
        public UnenforceablePolicy OnUnenforceablePolicy => OnUnenforceableChoices.Parse(OnUnenforceable);

        /// <summary>Ring-buffer events per second per container before drops are counted instead.</summary>
        public int LogEventsPerSecondPerContainer { get; set; } = 1000;
    }

    /// <summary>The local control socket used by the CLI.</summary>
    internal sealed class ControlSection
    {
        public string SocketPath { get; set; } = SeccompEbpf.Control.ControlJson.DefaultSocketPath;
    }

    /// <summary>How the daemon meets containerd's NRI.</summary>
    internal sealed class NriSection
    {
        /// <summary>containerd's NRI socket (external mode). Ignored when containerd launched us (NRI_PLUGIN_SOCKET).</summary>
        public string SocketPath { get; set; } = "/var/run/nri/nri.sock";

        /// <summary>Plugin name sent in RegisterPlugin.</summary>
        public string PluginName { get; set; } = "seccomp-ebpf";

        /// <summary>Two digits; plugins are invoked in ascending index order.</summary>
        public string PluginIndex { get; set; } = "10";
    }

    /// <summary>The options a configuration says; <see cref="Validate"/> then names every bad value.</summary>
    /// <exception cref="InvalidOperationException">An unknown key, or a value the binder cannot take; the message names it.</exception>
    public static DaemonOptions From(IConfiguration configuration)
    {
        // Checked before binding: the binder's own error for a bad enum value names neither the key as written nor the choices.
        var unbindable = PolicyOptions.CheckBeforeBinding(configuration["policy:onInvalidPolicy"]).ToList();
        if (unbindable.Count > 0)
            throw new InvalidOperationException(string.Join("; ", unbindable));
        return configuration.Get<DaemonOptions>(o => o.ErrorOnUnknownConfiguration = true) ?? new DaemonOptions();
    }

    /// <summary>Every problem with these options, each naming the key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(Nri.SocketPath))
            problems.Add("nri.socketPath: must not be empty");
        if (!PluginIndexPattern().IsMatch(Nri.PluginIndex))
            problems.Add($"nri.pluginIndex: \"{Nri.PluginIndex}\" must be exactly two digits (00-99)");
        if (!PluginNamePattern().IsMatch(Nri.PluginName))
            problems.Add($"nri.pluginName: \"{Nri.PluginName}\" may only contain letters, digits and _.+-");
        problems.AddRange(Policy.Validate());
        if (EnforcementSection.OnUnenforceableChoices.Check(Enforcement.OnUnenforceable) is { } unenforceableProblem)
            problems.Add(unenforceableProblem);
        if (!Enforcement.PinRoot.StartsWith("/sys/fs/bpf/", StringComparison.Ordinal))
            problems.Add($"enforcement.pinRoot: \"{Enforcement.PinRoot}\" must be a directory under /sys/fs/bpf");
        if (Enforcement.LogEventsPerSecondPerContainer < 0)
            problems.Add("enforcement.logEventsPerSecondPerContainer: must not be negative (0 means unlimited)");
        if (!Path.IsPathRooted(Control.SocketPath))
            problems.Add($"control.socketPath: \"{Control.SocketPath}\" must be an absolute path");
        problems.AddRange(ValidateKubernetesAndMetrics()); // DaemonOptions.Kubernetes.cs
        problems.AddRange(Gate.Validate()); // DaemonOptions.Gate.cs
        return problems;
    }

    [GeneratedRegex("^[0-9]{2}$")]
    private static partial Regex PluginIndexPattern();

    [GeneratedRegex("^[a-zA-Z0-9_.+-]+$")]
    private static partial Regex PluginNamePattern();
}
