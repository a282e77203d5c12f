using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging.Abstractions;
using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Daemon;
using SeccompEbpf.Lifecycle;
using SeccompEbpf.Profiles.BuiltIns;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Cli;

/// <summary><c>seccomp-ebpf profile plan</c>: the exactness class of every syscall of a profile on this kernel, without a container.</summary>
internal static partial class ProfileCommand
{
    private static readonly JsonSerializerOptions PlanJson = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    static partial void Plan(string[] args, TextWriter stdout, TextWriter stderr, ref int code) => code = PlanVerb(args, stdout, stderr);

    static partial void CompileDaemonReference(string reference, CompileContext context, TextWriter stderr, ref CompiledProfile? profile, ref bool resolved)
    {
        profile = CompileReference(reference, context, stderr, "diff");
        resolved = true;
    }

    private static int PlanVerb(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var o = ParseOptions(args, ["--mode", "--on-unenforceable", "--assume", "--caps", "--kernel", "--floor"], ["--json"]);
        var mode = o.Values.GetValueOrDefault("--mode", "enforce") switch
        {
            "enforce" => EnforcementMode.Enforce,
            "audit" => EnforcementMode.Audit,
            var m => throw new UsageException($"--mode \"{m}\" must be enforce or audit"),
        };
        string policyName = o.Values.GetValueOrDefault("--on-unenforceable", DaemonOptions.EnforcementSection.LogUnpreventableDefault);
        var choices = DaemonOptions.EnforcementSection.OnUnenforceableChoices;
        if (!choices.TryParse(policyName, out var policy))
            throw new UsageException($"--on-unenforceable \"{policyName}\" must be {string.Join(", ", choices.Spellings.SkipLast(1))} or {choices.Spellings.Last()}");

        var context = ContainerDefaults.CompileContext();
        if (o.Values.TryGetValue("--caps", out string? capText))
            context = context with { BoundingCaps = capText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(c => c.StartsWith("CAP_", StringComparison.Ordinal) ? c : "CAP_" + c.ToUpperInvariant()).ToHashSet() };
        if (o.Values.TryGetValue("--kernel", out string? k))
            context = context with { Kernel = KernelVersion.TryParse(k) ?? throw new UsageException($"--kernel \"{k}\" is not a version such as 6.1") };

        if (CompileReference(o.File, context, stderr) is not { } profile)
            return 1;
        SeccompFloor? floor = null;
        if (o.Values.TryGetValue("--floor", out string? floorReference))
        {
            if (CompileFloor(floorReference, context, stderr) is not { } compiledFloor)
                return 1;
            floor = new SeccompFloor(compiledFloor, floorReference);
        }

        KernelCapabilities capabilities;
        if (o.Values.TryGetValue("--assume", out string? assumed))
            capabilities = Assumed(assumed);
        else if (!Environment.IsPrivilegedProcess)
        {
            stderr.WriteLine("seccomp-ebpf profile plan: probing this kernel needs root (loading the probe programs needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN); "
                + "run it as root, or plan for a recorded kernel with --assume no-lsm|lsm|lsm+error-injection|fmod-ret-security");
            return 1;
        }
        else
        {
            try
            {
                capabilities = CapabilityProber.Probe(NullLoggerFactory.Instance);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                stderr.WriteLine($"seccomp-ebpf profile plan: probing this kernel failed: {e.Message}");
                return 1;
            }
        }

        ProfilePlan plan;
        try
        {
            plan = EnforcementPlans.Plan(capabilities, policy, profile, mode, floor);
        }
        catch (ArgumentException e)
        {
            stderr.WriteLine($"{o.File}: {e.Message}");
            return 1;
        }
        bool sysEnter = capabilities.Has(KernelMechanism.RawTracepoint);
        if (o.Switches.Contains("--json"))
            stdout.WriteLine(JsonSerializer.Serialize(PlanView(o.File, profile, policyName, capabilities, plan), PlanJson));
        else
            PrintPlan(stdout, o.File, profile, policyName, capabilities, plan);
        if (!sysEnter)
            stderr.WriteLine($"seccomp-ebpf profile plan: raw_tp/sys_enter is unavailable here ({capabilities[KernelMechanism.RawTracepoint].Detail}): the daemon can enforce nothing on this kernel");
        return plan.Refusals.Count > 0 || !sysEnter ? 1 : 0;
    }

    /// <summary>
    /// The kernel seccomp floor for --floor: an OCI runtime spec (a task bundle's config.json: its linux.seccomp, or
    /// none when it has no filter), else a profile file or reference as for the profile itself.
    /// </summary>
    private static CompiledProfile? CompileFloor(string reference, CompileContext context, TextWriter stderr)
    {
        if (File.Exists(reference))
        {
            string? seccomp;
            try
            {
                seccomp = SeccompFloorReader.SeccompOfSpec(File.ReadAllBytes(reference), out bool isSpec);
                if (isSpec && seccomp is null)
                {
                    stderr.WriteLine($"seccomp-ebpf profile plan: --floor {reference}: the OCI spec has no linux.seccomp (the container runs unconfined): no floor to plan with");
                    return null;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
            {
                stderr.WriteLine($"seccomp-ebpf profile plan: --floor {reference}: {e.Message}");
                return null;
            }
            if (seccomp is not null)
                return CompileParsed(ProfileParser.Parse(seccomp), $"{reference} (linux.seccomp)", context, stderr);
        }
        return CompileReference(reference, context, stderr);
    }

    /// <summary>A file path as given, else a reference as the annotation takes it (built-in, NAME, localhost/PATH) under the default roots.</summary>
    private static CompiledProfile? CompileReference(string reference, CompileContext context, TextWriter stderr, string verb = "plan")
    {
        string file;
        if (File.Exists(reference))
            file = reference;
        else
        {
            var defaults = new PolicyOptions();
            try
            {
                switch (ProfileReference.Resolve(reference, defaults.ProfileDirectory, defaults.KubeletSeccompRoot))
                {
                    case ProfileLocation.Builtin builtin:
                        return BuiltInProfiles.Compile(builtin.Name, context).Profile;
                    case ProfileLocation.File f:
                        file = f.Path;
                        break;
                    default:
                        return null;
                }
            }
            catch (PolicySelectionException e)
            {
                stderr.WriteLine($"seccomp-ebpf profile {verb}: {e.Message}");
                return null;
            }
            if (!File.Exists(file))
            {
                stderr.WriteLine($"seccomp-ebpf profile {verb}: {reference}: no such file ({file})");
                return null;
            }
        }
        return CompileParsed(ProfileParser.ParseFile(file), file, context, stderr);
    }

    /// <summary>The compiled profile, or null after printing its errors, each prefixed with WHERE.</summary>
    private static CompiledProfile? CompileParsed(ProfileParseResult parsed, string where, CompileContext context, TextWriter stderr)
    {
        foreach (var d in parsed.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error))
            stderr.WriteLine(d.Format(where));
        if (parsed.Profile is null)
            return null;
        try
        {
            return ProfileCompiler.Compile(parsed.Profile, context).Profile;
        }
        catch (ProfileException e)
        {
            stderr.WriteLine($"{where}: {e.Message}");
            return null;
        }
    }

    /// <summary>
    /// The capability sets recorded on the kernels this project runs on (docs/vm.md): no BPF LSM (the host), BPF LSM
    /// (Debian), both plus error injection, and fmod-ret-security: bpf left out of the active LSMs (Debian 6.12 booted
    /// with lsm= without bpf), where fmod_ret on the hooks' security_* functions stands in for BPF LSM.
    /// </summary>
    private static KernelCapabilities Assumed(string kind)
    {
        bool lsm = kind is "lsm" or "lsm+error-injection";
        bool injection = kind == "lsm+error-injection";
        bool fmodRetSecurity = lsm || kind == "fmod-ret-security";
        if (!lsm && kind is not ("no-lsm" or "fmod-ret-security"))
            throw new UsageException($"--assume \"{kind}\" must be {AssumeKinds}");
        return new KernelCapabilities($"assumed ({kind})", lsm ? "capability,bpf (assumed)" : "capability (assumed)",
            Enum.GetValues<KernelMechanism>().Select(m => m switch
            {
                KernelMechanism.BpfLsm or KernelMechanism.LsmCgroup when !lsm => new MechanismProbe(m, false, 1, "assumed unavailable"),
                KernelMechanism.FmodRet or KernelMechanism.KprobeOverride when !injection => new MechanismProbe(m, false, 22, "assumed unavailable"),
                KernelMechanism.FmodRetSecurity when !fmodRetSecurity => new MechanismProbe(m, false, 1, "assumed unavailable"),
                _ => new MechanismProbe(m, true, 0, "assumed available"),
            }).ToList());
    }

    internal const string AssumeKinds = "no-lsm, lsm, lsm+error-injection or fmod-ret-security";

    private static string Mechanisms(KernelCapabilities c)
    {
        string Of(KernelMechanism m) => c.Has(m) ? "available" : $"unavailable ({c[m].ErrnoName})";
        // the fallback is named only where it is what prevents, so the line for the other kernels reads as before
        string fallback = c.PreventsThroughFmodRet ? ", fmod_ret on security_* available (used for the LSM hooks)" : "";
        return $"BPF LSM {Of(KernelMechanism.BpfLsm)}{fallback}, fmod_ret {Of(KernelMechanism.FmodRet)}, kprobe override {Of(KernelMechanism.KprobeOverride)}";
    }

    private static void PrintPlan(TextWriter stdout, string reference, CompiledProfile profile, string policyName, KernelCapabilities capabilities, ProfilePlan plan)
    {
        var exactness = plan.Exactness;
        stdout.WriteLine($"profile {reference} ({profile.Hash[..12]}), mode {exactness.Mode.ToString().ToLowerInvariant()}, onUnenforceable {policyName}");
        stdout.WriteLine($"kernel {capabilities.KernelRelease}: {Mechanisms(capabilities)}");
        if (exactness.FloorSource is { } floor)
            stdout.WriteLine($"kernel seccomp floor {floor}: syscalls it stops before entry are exact (kernel seccomp) with no BPF work");
        stdout.WriteLine(exactness.NeedsSysEnter
            ? "sys_enter: needed (some action is left for the BPF programs)"
            : "sys_enter: not needed (the kernel seccomp floor stops every syscall the profile denies; the binding attaches nothing)");
        var native = exactness.Summary;
        foreach (var arch in exactness.Arches.OrderBy(a => a.Arch == native.Arch ? 0 : 1))
            stdout.WriteLine($"{arch.Arch,-8} {arch.Summary}");
        stdout.WriteLine();
        stdout.WriteLine($"{native.Arch} syscalls per class:");
        var syscalls = exactness.Arches.First(a => a.Arch == native.Arch).Syscalls;
        foreach (var cls in Enum.GetValues<Exactness>())
        {
            var names = syscalls.Where(s => s.Class == cls).Select(s => s.Name).ToList();
            if (names.Count > 0 || cls != Exactness.Refused)
                stdout.WriteLine($"  {ClassName(cls)} ({names.Count}): {string.Join(" ", names)}");
        }
        if (exactness.FloorSource is not null)
        {
            var byFloor = syscalls.Where(s => s.Class == Exactness.ExactBeforeEntry && s.ByKernelSeccomp).Select(s => s.Name).ToList();
            stdout.WriteLine($"  of the exact, kernel seccomp ({byFloor.Count}): {string.Join(" ", byFloor)}");
            var differs = syscalls.Where(s => s.Actions.Any(a => a.FloorDiffers)).ToList();
            if (differs.Count > 0)
            {
                stdout.WriteLine($"  kernel seccomp answers differently from the profile ({differs.Count}; the container observes the floor's answer):");
                foreach (var s in differs)
                    stdout.WriteLine($"    {s.Name}: " + string.Join(", ", s.Actions.Where(a => a.FloorDiffers).Select(a => $"profile {a.Action}, kernel seccomp {a.KernelSeccomp}")));
            }
        }
        if (plan.Refusals.Count > 0)
        {
            stdout.WriteLine();
            stdout.WriteLine($"the daemon would refuse this profile (onUnenforceable {policyName}); the container would be vetoed:");
            foreach (var refusal in plan.Refusals)
                stdout.WriteLine($"  {refusal}");
        }
    }

    internal static string ClassName(Exactness c) => c switch
    {
        Exactness.ExactBeforeEntry => "exact",
        Exactness.KilledAfterEntry => "after-entry",
        Exactness.NotPrevented => "not prevented",
        _ => "refused",
    };

    private static object PlanView(string reference, CompiledProfile profile, string policyName, KernelCapabilities capabilities, ProfilePlan plan) => new
    {
        profile = reference,
        hash = profile.Hash,
        mode = plan.Exactness.Mode,
        onUnenforceable = policyName,
        kernel = new
        {
            release = capabilities.KernelRelease,
            activeLsms = capabilities.ActiveLsms,
            bpfLsm = capabilities.Has(KernelMechanism.BpfLsm),
            fmodRetSecurity = capabilities.Has(KernelMechanism.FmodRetSecurity),
            fmodRet = capabilities.Has(KernelMechanism.FmodRet),
            kprobeOverride = capabilities.Has(KernelMechanism.KprobeOverride),
        },
        floor = plan.Exactness.FloorSource,
        needsSysEnter = plan.Exactness.NeedsSysEnter,
        summary = plan.Exactness.Summary,
        arches = plan.Exactness.Arches.Select(a => new
        {
            arch = a.Arch,
            summary = a.Summary,
            syscalls = a.Syscalls.Select(s => new
            {
                name = s.Name,
                nr = s.Nr,
                @class = s.Class,
                actions = s.Actions.Select(x => new { action = x.Action.ToString(), origin = x.Origin, @class = x.Class, kernelSeccomp = x.KernelSeccomp }),
            }),
        }),
        refusals = plan.Refusals,
    };
}
