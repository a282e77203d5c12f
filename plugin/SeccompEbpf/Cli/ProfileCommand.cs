using System.Globalization;
using BpfLimitProblem = SeccompEbpf.Bpf.Enforcement.BpfLimitProblem;
using BpfLimits = SeccompEbpf.Bpf.Enforcement.BpfLimits;
using SeccompEbpf.Profiles.BuiltIns;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Evaluation;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Cli;

/// <summary><c>seccomp-ebpf profile validate|explain|compile|plan|diff</c>.</summary>
internal static partial class ProfileCommand
{
    private const string Usage = """
        usage: seccomp-ebpf profile validate FILE...
               seccomp-ebpf profile explain FILE --syscall NAME [--args a0,a1,...] [--arch ARCH] [--caps CAP,...] [--kernel X.Y]
               seccomp-ebpf profile compile FILE [--json] [--arch ARCH] [--caps CAP,...] [--kernel X.Y]
               seccomp-ebpf profile plan FILE|REF [--mode enforce|audit] [--json] [--on-unenforceable POLICY]
                                         [--assume no-lsm|lsm|lsm+error-injection|fmod-ret-security] [--caps CAP,...] [--kernel X.Y]
                                         [--floor SPEC|FILE|REF]
               seccomp-ebpf profile diff A B [--json] [--arch ARCH] [--caps CAP,...] [--kernel X.Y]
        FILE may be a built-in profile: runtime/default, unconfined, audit, strict.
        plan: how exactly each syscall is enforced on THIS kernel (probed: needs root) or on an --assume'd one;
          REF as in the seccomp-ebpf.io/profile annotation; POLICY as enforcement.onUnenforceable
          (default log-unpreventable-default); exit 1 when the daemon would refuse the profile.
          --floor: the container's own kernel seccomp filter (a task bundle's config.json, a profile, or a REF such
          as runtime/default); what it stops is exact ("kernel seccomp") and needs no BPF work.
        diff: the syscalls (per architecture) and argument rules whose verdict differs between A and B (files, built-ins,
          or references as plan takes them); exit 0 when identical, 1 when they differ, 2 on bad input.
        ARCH: x86_64 (default), i386, x32, aarch64 (the task's ABI; aarch64 compiles for an aarch64 node).
        """;

    private static readonly string[] AllCaps =
    [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
        "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ];

    /// <summary>Runs a profile verb; returns the process exit code (0 ok, 1 problems found, 2 usage error).</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Length == 0 ? stderr : stdout).WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            return args[0] switch
            {
                "validate" => Validate(args[1..], stdout, stderr),
                "explain" => Explain(args[1..], stdout, stderr),
                "compile" => CompileVerb(args[1..], stdout, stderr),
                "plan" => RunPlan(args[1..], stdout, stderr),
                "diff" => DiffVerb(args[1..], stdout, stderr),
                _ => UsageError(stderr, $"unknown verb \"{args[0]}\""),
            };
        }
        catch (UsageException ex)
        {
            return UsageError(stderr, ex.Message);
        }
    }

    private sealed class UsageException(string message) : Exception(message);

    // plan needs the BPF engine's planner (ProfileCommand.Plan.cs); SeccompEbpf.Profiles.Tests compiles this file
    // alone, without it, so the verb is an optional partial method there.
    static partial void Plan(string[] args, TextWriter stdout, TextWriter stderr, ref int code);

    private static int RunPlan(string[] args, TextWriter stdout, TextWriter stderr)
    {
        int code = -1;
        Plan(args, stdout, stderr, ref code);
        return code >= 0 ? code : UsageError(stderr, "plan is not available in this build");
    }

    private static int UsageError(TextWriter stderr, string message)
    {
        stderr.WriteLine($"seccomp-ebpf profile: {message}");
        stderr.WriteLine(Usage);
        return 2;
    }

    private static int Validate(string[] files, TextWriter stdout, TextWriter stderr)
    {
        if (files.Length == 0) throw new UsageException("validate needs at least one FILE");
        bool failed = false;
        foreach (string file in files)
        {
            var result = Load(file);
            foreach (var d in result.Diagnostics) stdout.WriteLine(d.Format(file));
            if (result.Profile is null) { failed = true; continue; }
            // runc refuses some profiles only when libseccomp builds the filter (EEXIST): try without and with every capability.
            var problems = new SortedSet<string>(StringComparer.Ordinal);
            // The daemon refuses what the BPF evaluator cannot hold (rule entries per syscall): said here, before any use.
            var limits = new SortedSet<(int Line, string Message)>();
            foreach (var caps in new[] { new HashSet<string>(), new HashSet<string>(AllCaps) })
                foreach (var native in new[] { SyscallArch.X86_64, SyscallArch.Aarch64 })
                {
                    try
                    {
                        var compiled = ProfileCompiler.Compile(result.Profile, new CompileContext(native, caps, new KernelVersion(6, 1)));
                        foreach (var limit in BpfLimits.Check(compiled.Profile)) limits.Add((LineOfSyscall(compiled.Profile, limit, result.Profile), limit.Message));
                    }
                    catch (ProfileException ex) { problems.Add(ex.Message); }
                }
            foreach (string problem in problems)
            {
                int line = LineOf(problem, result.Profile);
                stdout.WriteLine($"{file}:{line}: {PathOf(problem)}: {problem}");
                failed = true;
            }
            foreach (var (line, message) in limits)
            {
                stdout.WriteLine($"{file}:{line}: $: BPF limit: {message}");
                failed = true;
            }
            if (!failed && result.Diagnostics.Count == 0) stdout.WriteLine($"{file}: ok");
        }
        return failed ? 1 : 0;
    }

    private static int LineOf(string message, SeccompProfile profile)
    {
        int start = message.IndexOf("syscalls[", StringComparison.Ordinal);
        if (start < 0) return 0;
        int end = message.IndexOf(']', start);
        return int.TryParse(message.AsSpan(start + 9, end - start - 9), out int index) && index < profile.Syscalls.Count ? profile.Syscalls[index].Line : 0;
    }

    // The first syscalls[] entry that names the syscall over the limit.
    private static int LineOfSyscall(CompiledProfile compiled, BpfLimitProblem limit, SeccompProfile profile) =>
        compiled.Origins?.TryGetValue((limit.AuditArch, limit.Nr), out var origins) == true && origins.Count > 0 && origins[0] < profile.Syscalls.Count
            ? profile.Syscalls[origins[0]].Line : 0;

    private static string PathOf(string message)
    {
        int start = message.IndexOf("syscalls[", StringComparison.Ordinal);
        return start < 0 ? "$" : "$." + message[start..(message.IndexOf(']', start) + 1)];
    }

    private static ProfileParseResult Load(string file) =>
        BuiltInProfiles.IsBuiltIn(file) ? ProfileParser.Parse(BuiltInProfiles.Json(file)) : ProfileParser.ParseFile(file);

    private sealed record Options(string File, Dictionary<string, string> Values, HashSet<string> Switches);

    private static Options ParseOptions(string[] args, string[] valued, string[] switches)
    {
        string? file = null;
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var set = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < args.Length; i++)
        {
            if (valued.Contains(args[i]))
            {
                if (i + 1 >= args.Length) throw new UsageException($"{args[i]} needs a value");
                values[args[i]] = args[++i];
            }
            else if (switches.Contains(args[i])) set.Add(args[i]);
            else if (args[i].StartsWith("--", StringComparison.Ordinal)) throw new UsageException($"unknown option {args[i]}");
            else if (file is null) file = args[i];
            else throw new UsageException($"unexpected argument \"{args[i]}\"");
        }
        return new Options(file ?? throw new UsageException("a FILE (or built-in profile name) is required"), values, set);
    }

    private static (CompileContext Context, SyscallArch TaskArch) ContextFrom(Options o)
    {
        var taskArch = SyscallArch.X86_64;
        if (o.Values.TryGetValue("--arch", out string? archText))
            taskArch = SyscallTables.FromName(archText) ?? throw new UsageException($"unknown --arch \"{archText}\" (x86_64, i386, x32, aarch64)");
        var caps = o.Values.TryGetValue("--caps", out string? capText)
            ? capText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(c => c.StartsWith("CAP_", StringComparison.Ordinal) ? c : "CAP_" + c.ToUpperInvariant()).ToHashSet()
            : [];
        var kernel = new KernelVersion(6, 1);
        if (o.Values.TryGetValue("--kernel", out string? k))
            kernel = KernelVersion.TryParse(k) ?? throw new UsageException($"--kernel \"{k}\" is not a version such as 6.1");
        var native = taskArch == SyscallArch.Aarch64 ? SyscallArch.Aarch64 : SyscallArch.X86_64;
        return (new CompileContext(native, caps, kernel), taskArch);
    }

    private static CompileResult? CompileFile(Options o, CompileContext context, TextWriter stdout, TextWriter stderr)
    {
        if (BuiltInProfiles.IsBuiltIn(o.File)) return BuiltInProfiles.Compile(o.File, context);
        var result = Load(o.File);
        foreach (var d in result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)) stderr.WriteLine(d.Format(o.File));
        if (result.Profile is null) return null;
        CompileResult compiled;
        try { compiled = ProfileCompiler.Compile(result.Profile, context); }
        catch (ProfileException ex) { stderr.WriteLine($"{o.File}: {ex.Message}"); return null; }
        foreach (var limit in BpfLimits.Check(compiled.Profile))
            stderr.WriteLine($"{o.File}:{LineOfSyscall(compiled.Profile, limit, result.Profile)}: BPF limit: {limit.Message}; the daemon refuses this profile");
        return compiled;
    }

    private static int Explain(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var o = ParseOptions(args, ["--syscall", "--args", "--arch", "--caps", "--kernel"], []);
        if (!o.Values.TryGetValue("--syscall", out string? name)) throw new UsageException("explain needs --syscall NAME");
        var (context, taskArch) = ContextFrom(o);
        var argValues = new ulong[6];
        if (o.Values.TryGetValue("--args", out string? argText))
        {
            var parts = argText.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length > 6) throw new UsageException("--args takes at most six values");
            for (int i = 0; i < parts.Length; i++) argValues[i] = ParseU64(parts[i]);
        }
        uint nr = SyscallTables.Resolve(taskArch, name) ?? (uint.TryParse(name, out uint n) ? n : throw new UsageException($"{name} is not a syscall on {SyscallTables.ScmpName(taskArch)}"));
        var compiled = CompileFile(o, context, stdout, stderr);
        if (compiled is null) return 1;
        uint audit = SyscallTables.AuditArchOf(taskArch);
        var decision = ReferenceEvaluator.Evaluate(compiled.Profile, audit, nr, argValues);
        stdout.WriteLine($"{name} (nr {nr}, {SyscallTables.ScmpName(taskArch)}) args [{string.Join(", ", argValues.Select(a => $"0x{a:x}"))}]");
        stdout.WriteLine($"action: {Describe(decision.Action)}");
        stdout.WriteLine($"decided by: {decision.Source switch
        {
            DecisionSource.BadArch => "the bad-architecture action (the profile does not cover this ABI)",
            DecisionSource.Rule => $"rule {decision.RuleIndex} of this syscall: {string.Join(" && ", decision.Rule!.Checks.Select(FormatCheck))}" +
                (compiled.Profile.Arches.FirstOrDefault(a => a.AuditArch == audit)?.DefaultAction == decision.Action
                    ? " (this path through the argument checks ends in the default action)" : ""),
            DecisionSource.SyscallFallback => "the syscall's own action (no argument rule matched, or the rule is unconditional)",
            DecisionSource.EnosysStub => "runc's -ENOSYS stub (the number is above every syscall the profile names)",
            _ => "the profile's default action",
        }}");
        if (compiled.Profile.Origins?.TryGetValue((audit, nr), out var origins) == true)
        {
            var profile = BuiltInProfiles.IsBuiltIn(o.File) ? null : Load(o.File).Profile;
            foreach (int index in origins)
            {
                int line = profile is not null && index < profile.Syscalls.Count ? profile.Syscalls[index].Line : 0;
                stdout.WriteLine($"from: {o.File}:{line}: $.syscalls[{index}]");
            }
        }
        return 0;
    }

    private static string Describe(CompiledAction action) => action.Kind switch
    {
        SeccompAction.Errno => $"ERRNO({action.Data}{(SyscallTables.ErrnoName(action.Data) is { } n ? " " + n : "")})",
        _ => action.ToString(),
    };

    private static string FormatCheck(ArgCheck c) => c.Op switch
    {
        CompareOp.MaskedEqual => $"(arg{c.Index} & 0x{c.Value:x}) == 0x{c.Datum:x}",
        CompareOp.NotEqual => $"arg{c.Index} != 0x{c.Value:x}",
        CompareOp.LessThan => $"arg{c.Index} < 0x{c.Value:x}",
        CompareOp.LessOrEqual => $"arg{c.Index} <= 0x{c.Value:x}",
        CompareOp.Equal => $"arg{c.Index} == 0x{c.Value:x}",
        CompareOp.GreaterOrEqual => $"arg{c.Index} >= 0x{c.Value:x}",
        _ => $"arg{c.Index} > 0x{c.Value:x}",
    };

    private static ulong ParseU64(string text)
    {
        bool ok = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? ulong.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong v)
            : ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out v);
        if (!ok && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long signed)) { v = unchecked((ulong)signed); ok = true; }
        return ok ? v : throw new UsageException($"\"{text}\" is not a number (decimal, 0x hex, or negative)");
    }

    private static int CompileVerb(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var o = ParseOptions(args, ["--arch", "--caps", "--kernel"], ["--json"]);
        var (context, _) = ContextFrom(o);
        var compiled = CompileFile(o, context, stdout, stderr);
        if (compiled is null) return 1;
        foreach (string w in compiled.Warnings) stderr.WriteLine($"{o.File}: warning: {w}");
        if (o.Switches.Contains("--json"))
        {
            stdout.WriteLine(ProfileSerializer.CompiledToJson(compiled.Profile, compiled.EncodedBytes, compiled.Entries));
            return 0;
        }
        var p = compiled.Profile;
        stdout.WriteLine($"hash: {p.Hash}");
        stdout.WriteLine($"size: {compiled.EncodedBytes} bytes, {compiled.Entries} entries, at most {p.MaxRulesPerSyscall} rules per syscall");
        stdout.WriteLine($"bad-arch action: {Describe(p.BadArchAction)}");
        foreach (var arch in p.Arches)
            stdout.WriteLine($"arch 0x{arch.AuditArch:X8}: default {Describe(arch.DefaultAction)}, {arch.Syscalls.Count} syscalls, {arch.Syscalls.Sum(s => s.Rules.Count)} rules, ENOSYS from {(arch.EnosysFromNr?.ToString(CultureInfo.InvariantCulture) ?? "-")}");
        return 0;
    }
}
