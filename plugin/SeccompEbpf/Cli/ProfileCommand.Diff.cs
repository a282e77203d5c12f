using System.Text.Json;
using SeccompEbpf.Profiles.BuiltIns;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Cli;

/// <summary><c>seccomp-ebpf profile diff A B</c>: the syscalls and argument rules whose verdict differs between two profiles.</summary>
internal static partial class ProfileCommand
{
    // A reference that is neither a file nor a built-in is resolved as the annotation resolves it, under the daemon's default
    // roots (ProfileCommand.Plan.cs); SeccompEbpf.Profiles.Tests compiles this file without the daemon, so that is optional.
    static partial void CompileDaemonReference(string reference, CompileContext context, TextWriter stderr, ref CompiledProfile? profile, ref bool resolved);

    /// <summary>What one (arch, nr) does: the argument rules in order, then the action when none matches.</summary>
    private sealed record Verdict(IReadOnlyList<CompiledRule> Rules, CompiledAction Fallback)
    {
        // A trailing rule that yields the fallback decides nothing (first match wins, and no rule after it could differ).
        public static Verdict Normalized(IReadOnlyList<CompiledRule> rules, CompiledAction fallback)
        {
            int count = rules.Count;
            while (count > 0 && rules[count - 1].Action == fallback) count--;
            return new Verdict(rules.Take(count).ToList(), fallback);
        }

        public bool SameAs(Verdict other) =>
            Fallback == other.Fallback && Rules.Count == other.Rules.Count
            && Rules.Zip(other.Rules).All(p => p.First.Action == p.Second.Action && p.First.Checks.SequenceEqual(p.Second.Checks));

        public string Describe() => Rules.Count == 0
            ? ProfileCommand.Describe(Fallback)
            : string.Join("; ", Rules.Select(r => $"if {string.Join(" && ", r.Checks.Select(FormatCheck))} then {ProfileCommand.Describe(r.Action)}"))
              + $"; else {ProfileCommand.Describe(Fallback)}";
    }

    private sealed record SyscallDifference(string Arch, string Name, uint Nr, Verdict A, Verdict B);

    private sealed record ArchDifference(string Arch, string What, string A, string B);

    private static int DiffVerb(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var (files, o) = ParseDiffOptions(args);
        var (context, _) = ContextFrom(o);
        var a = CompileForDiff(files[0], context, stderr);
        var b = CompileForDiff(files[1], context, stderr);
        if (a is null || b is null)
        {
            stderr.WriteLine("seccomp-ebpf profile diff: cannot compare: a profile above is invalid or missing");
            return 2;
        }
        var (archDifferences, syscallDifferences) = Compare(a, b);
        bool identical = archDifferences.Count == 0 && syscallDifferences.Count == 0;
        if (o.Switches.Contains("--json"))
        {
            stdout.WriteLine(JsonSerializer.Serialize(new
            {
                a = files[0],
                b = files[1],
                identical,
                arches = archDifferences.Select(d => new { arch = d.Arch, what = d.What, a = d.A, b = d.B }),
                syscalls = syscallDifferences.Select(d => new { arch = d.Arch, name = d.Name, nr = d.Nr, a = VerdictView(d.A), b = VerdictView(d.B) }),
            }, new JsonSerializerOptions { WriteIndented = true }));
            return identical ? 0 : 1;
        }
        stdout.WriteLine($"--- {files[0]}");
        stdout.WriteLine($"+++ {files[1]}");
        foreach (var d in archDifferences)
            stdout.WriteLine($"{d.Arch} {d.What}: - {d.A} + {d.B}");
        foreach (var d in syscallDifferences)
        {
            stdout.WriteLine($"{d.Arch} {d.Name} (nr {d.Nr}):");
            stdout.WriteLine($"  - {d.A.Describe()}");
            stdout.WriteLine($"  + {d.B.Describe()}");
        }
        stdout.WriteLine(identical ? "identical verdicts" : $"{syscallDifferences.Count} syscall verdict(s) differ");
        return identical ? 0 : 1;
    }

    private static object VerdictView(Verdict v) => new
    {
        action = Describe(v.Fallback),
        rules = v.Rules.Select(r => new { checks = r.Checks.Select(FormatCheck), action = Describe(r.Action) }),
    };

    private static (string[] Files, Options Options) ParseDiffOptions(string[] args)
    {
        var files = new List<string>();
        var rest = new List<string>();
        string[] valued = ["--arch", "--caps", "--kernel"];
        for (int i = 0; i < args.Length; i++)
        {
            if (valued.Contains(args[i]) && i + 1 < args.Length) { rest.Add(args[i]); rest.Add(args[++i]); }
            else if (args[i].StartsWith("--", StringComparison.Ordinal)) rest.Add(args[i]);
            else files.Add(args[i]);
        }
        if (files.Count != 2) throw new UsageException($"diff needs exactly two profiles A B (got {files.Count})");
        // The options are parsed with a placeholder FILE so that both profiles stay positional.
        var o = ParseOptions([.. rest, files[0]], valued, ["--json"]);
        return ([.. files], o);
    }

    private static CompiledProfile? CompileForDiff(string reference, CompileContext context, TextWriter stderr)
    {
        if (BuiltInProfiles.IsBuiltIn(reference)) return BuiltInProfiles.Compile(reference, context).Profile;
        if (!File.Exists(reference))
        {
            CompiledProfile? resolvedProfile = null;
            bool resolved = false;
            CompileDaemonReference(reference, context, stderr, ref resolvedProfile, ref resolved);
            if (!resolved) stderr.WriteLine($"seccomp-ebpf profile diff: {reference}: no such file or built-in profile");
            return resolvedProfile;
        }
        var result = ProfileParser.ParseFile(reference);
        foreach (var d in result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)) stderr.WriteLine(d.Format(reference));
        if (result.Profile is null) return null;
        try { return ProfileCompiler.Compile(result.Profile, context).Profile; }
        catch (ProfileException ex) { stderr.WriteLine($"{reference}: {ex.Message}"); return null; }
    }

    /// <summary>Every architecture either profile covers, and every syscall number either names or a syscall table knows.</summary>
    private static (List<ArchDifference> Arches, List<SyscallDifference> Syscalls) Compare(CompiledProfile a, CompiledProfile b)
    {
        var arches = new List<ArchDifference>();
        var syscalls = new List<SyscallDifference>();
        if (a.BadArchAction != b.BadArchAction)
            arches.Add(new ArchDifference("*", "bad-arch action", Describe(a.BadArchAction), Describe(b.BadArchAction)));
        var auditArches = a.Arches.Select(x => x.AuditArch).Union(b.Arches.Select(x => x.AuditArch)).Order();
        foreach (uint audit in auditArches)
        {
            var archA = a.Arches.FirstOrDefault(x => x.AuditArch == audit);
            var archB = b.Arches.FirstOrDefault(x => x.AuditArch == audit);
            string archName = ArchName(audit);
            string Covered(CompiledArch? arch, CompiledProfile p) => arch is null ? $"not covered (bad-arch action {Describe(p.BadArchAction)})" : "covered";
            string Default(CompiledArch? arch, CompiledProfile p) => arch is null ? Describe(p.BadArchAction) : Describe(arch.DefaultAction);
            if ((archA is null) != (archB is null))
                arches.Add(new ArchDifference(archName, "architecture", Covered(archA, a), Covered(archB, b)));
            else if (archA!.DefaultAction != archB!.DefaultAction)
                arches.Add(new ArchDifference(archName, "default action", Default(archA, a), Default(archB, b)));

            var numbers = new SortedDictionary<uint, string>();
            foreach (var table in TablesOf(audit))
                foreach (var (name, nr) in SyscallTables.Entries(table))
                    numbers.TryAdd(nr, table == SyscallArch.X32 ? $"{name} (x32)" : name);
            foreach (var s in (archA?.Syscalls ?? []).Concat(archB?.Syscalls ?? []))
                numbers.TryAdd(s.Nr, s.Nr.ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var (nr, name) in numbers)
            {
                var va = VerdictOf(a, archA, nr);
                var vb = VerdictOf(b, archB, nr);
                if (!va.SameAs(vb)) syscalls.Add(new SyscallDifference(archName, name, nr, va, vb));
            }
        }
        return (arches, syscalls);
    }

    private static Verdict VerdictOf(CompiledProfile profile, CompiledArch? arch, uint nr)
    {
        if (arch is null) return new Verdict([], profile.BadArchAction);
        var named = arch.Syscalls.FirstOrDefault(s => s.Nr == nr);
        if (named is not null) return Verdict.Normalized(named.Rules, named.Fallback);
        const ushort Enosys = 38;
        return new Verdict([], arch.EnosysFromNr is { } from && nr >= from ? CompiledAction.Errno(Enosys) : arch.DefaultAction);
    }

    private static SyscallArch[] TablesOf(uint auditArch) =>
        auditArch == SyscallTables.AuditArchOf(SyscallArch.X86_64) ? [SyscallArch.X86_64, SyscallArch.X32]
        : auditArch == SyscallTables.AuditArchOf(SyscallArch.I386) ? [SyscallArch.I386]
        : auditArch == SyscallTables.AuditArchOf(SyscallArch.Aarch64) ? [SyscallArch.Aarch64]
        : [];

    private static string ArchName(uint auditArch) => TablesOf(auditArch) is [var first, ..] ? SyscallTables.ScmpName(first) : $"0x{auditArch:X8}";
}
