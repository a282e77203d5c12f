using System.Security.Cryptography;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.Compilation;

/// <summary>What the compiler needs to know about the container and the node.</summary>
/// <param name="NativeArch">The node's architecture (x86_64 or aarch64).</param>
/// <param name="BoundingCaps">The container's bounding capabilities (CAP_*), for includes/excludes.caps.</param>
/// <param name="Kernel">The node's kernel version, for includes/excludes.minKernel; null refuses profiles that use minKernel.</param>
public sealed record CompileContext(SyscallArch NativeArch, IReadOnlySet<string> BoundingCaps, KernelVersion? Kernel)
{
    /// <summary>x86_64, no capabilities, kernel 6.1.</summary>
    public static CompileContext Default { get; } = new(SyscallArch.X86_64, new HashSet<string>(), new KernelVersion(6, 1));
}

/// <summary>The compiled profile plus what it costs and what the compiler noticed.</summary>
public sealed record CompileResult(CompiledProfile Profile, int EncodedBytes, int Entries, IReadOnlyList<string> Warnings);

/// <summary>Compiles a parsed profile the way Docker/containerd render it and runc + libseccomp 2.5.4 load it.</summary>
public static class ProfileCompiler
{
    private const ushort Eperm = 1, Enosys = 38;

    /// <summary>runc's action for a profile action and errnoRet (int16 truncation, EPERM when absent).</summary>
    public static CompiledAction ToCompiledAction(ProfileAction action, ulong? errnoRet) => action switch
    {
        ProfileAction.Kill or ProfileAction.KillThread => new(SeccompAction.KillThread),
        ProfileAction.KillProcess => new(SeccompAction.KillProcess),
        ProfileAction.Trap => new(SeccompAction.Trap),
        ProfileAction.Errno => new(SeccompAction.Errno, (ushort)(errnoRet ?? Eperm)),
        ProfileAction.Trace => new(SeccompAction.Trace, (ushort)(errnoRet ?? Eperm)),
        ProfileAction.Allow => new(SeccompAction.Allow),
        ProfileAction.Log => new(SeccompAction.Log),
        _ => new(SeccompAction.Notify),
    };

    /// <summary>The architectures the rendered profile lists: archMap resolved against the native arch, or <c>architectures</c>.</summary>
    public static IReadOnlyList<string> RenderArchitectures(SeccompProfile profile, SyscallArch native)
    {
        if (profile.ArchMap.Count == 0) return profile.Architectures;
        string nativeName = SyscallTables.ScmpName(native);
        var entry = profile.ArchMap.FirstOrDefault(e => e.Architecture == nativeName);
        return entry is null ? [] : [entry.Architecture, .. entry.SubArchitectures];
    }

    /// <summary>Docker/containers-common rendering: the rules that survive includes/excludes for this container.</summary>
    public static IReadOnlyList<SyscallRule> RenderRules(SeccompProfile profile, CompileContext context)
    {
        string goArch = SyscallTables.GoArchName(context.NativeArch);
        bool ArchListed(IReadOnlyList<string> arches) =>
            arches.Any(a => a == goArch || SyscallTables.FromName(a) == context.NativeArch && a.StartsWith("SCMP_ARCH_", StringComparison.Ordinal));
        bool KernelAtLeast(string min, SyscallRule rule)
        {
            var want = KernelVersion.TryParse(min) ?? throw new ProfileException($"syscalls[{rule.Index}]: bad minKernel \"{min}\"");
            if (context.Kernel is not { } k)
                throw new ProfileException($"syscalls[{rule.Index}] uses minKernel {min} but the kernel version is unknown");
            return k.CompareTo(want) >= 0;
        }
        var result = new List<SyscallRule>();
        foreach (var rule in profile.Syscalls)
        {
            if (rule.Excludes.Arches.Count > 0 && ArchListed(rule.Excludes.Arches)) continue;
            if (rule.Excludes.Caps.Any(context.BoundingCaps.Contains)) continue;
            if (rule.Excludes.MinKernel is { } exMin && KernelAtLeast(exMin, rule)) continue;
            if (rule.Includes.Arches.Count > 0 && !ArchListed(rule.Includes.Arches)) continue;
            if (!rule.Includes.Caps.All(context.BoundingCaps.Contains)) continue;
            if (rule.Includes.MinKernel is { } inMin && !KernelAtLeast(inMin, rule)) continue;
            result.Add(rule);
        }
        return result;
    }

    /// <summary>Compiles; throws <see cref="ProfileException"/> when runc would refuse the profile.</summary>
    public static CompileResult Compile(SeccompProfile profile, CompileContext context)
    {
        if (context.NativeArch is not (SyscallArch.X86_64 or SyscallArch.Aarch64))
            throw new ProfileException($"native architecture {context.NativeArch} is not supported (x86_64 or aarch64)");
        var warnings = new List<string>();
        var defaultAction = ToCompiledAction(profile.DefaultAction, profile.DefaultErrnoRet);
        if (profile.DefaultAction == ProfileAction.Errno && ((profile.DefaultErrnoRet ?? Eperm) & 0xFFFF) > 4094)
            throw new ProfileException($"defaultErrnoRet {profile.DefaultErrnoRet} is refused by libseccomp (must be <= 4094)");
        var listed = RenderArchitectures(profile, context.NativeArch);
        var rules = RenderRules(profile, context);

        // The filter always covers the native ABI; listed ABIs without a table here cannot be compiled.
        var inFilter = new List<SyscallArch> { context.NativeArch };
        var listedArches = new HashSet<SyscallArch>();
        foreach (string name in listed)
        {
            if (name == "SCMP_ARCH_NATIVE") { listedArches.Add(context.NativeArch); continue; }
            var arch = SyscallTables.FromName(name);
            if (arch is null || (context.NativeArch == SyscallArch.Aarch64 && arch != SyscallArch.Aarch64) ||
                (context.NativeArch == SyscallArch.X86_64 && arch == SyscallArch.Aarch64))
            {
                warnings.Add($"architecture {name} is not compiled on {SyscallTables.ScmpName(context.NativeArch)}; its tasks get the bad-architecture action (KILL_THREAD)");
                continue;
            }
            listedArches.Add(arch.Value);
            if (!inFilter.Contains(arch.Value)) inFilter.Add(arch.Value);
        }

        var dbs = new Dictionary<SyscallArch, LibseccompDb>();
        foreach (var arch in inFilter) dbs[arch] = new LibseccompDb(SyscallTables.Is32Bit(arch));
        var origins = new Dictionary<(uint, uint), List<int>>();
        foreach (var rule in rules)
        {
            var action = ToCompiledAction(rule.Action, rule.ErrnoRet);
            if (rule.Action == ProfileAction.Errno && ((rule.ErrnoRet ?? Eperm) & 0xFFFF) > 4094)
                throw new ProfileException($"syscalls[{rule.Index}]: errnoRet {rule.ErrnoRet} is refused by libseccomp (must be <= 4094)");
            if (action == defaultAction) continue; // runc skips rules equal to the default action.
            bool repeatedIndex = rule.Args.GroupBy(a => a.Index).Any(g => g.Count() > 1);
            var conditions = rule.Args.Select(a => (a.Index, a.Op, a.Value, a.ValueTwo)).ToList();
            foreach (string name in rule.Names)
            {
                foreach (var arch in inFilter)
                {
                    if (SyscallTables.Resolve(arch, name) is not { } nr) continue;
                    try
                    {
                        if (repeatedIndex)
                            foreach (var c in conditions) dbs[arch].AddRule(nr, action, [c]);
                        else
                            dbs[arch].AddRule(nr, action, conditions);
                    }
                    catch (LibseccompRuleException ex)
                    {
                        throw new ProfileException($"syscalls[{rule.Index}] (line {rule.Line}): libseccomp refuses the rule for {name} on {SyscallTables.ScmpName(arch)}: {ex.Message}; runc would fail the container");
                    }
                    var key = (SyscallTables.AuditArchOf(arch), nr);
                    if (!origins.TryGetValue(key, out var list)) origins[key] = list = [];
                    if (!list.Contains(rule.Index)) list.Add(rule.Index);
                }
            }
        }

        var enosys = EnosysThresholds(profile, rules, listedArches);

        // libseccomp lays out one program for all architectures (x86_64 and x32 share one section); the code of a
        // syscall can depend on what else is in the program, so it is generated and flattened as a whole.
        var filters = new List<TreeFlattener.ArchFilter>();
        foreach (var arch in inFilter)
        {
            if (arch == SyscallArch.X32 && inFilter.Contains(SyscallArch.X86_64)) continue;
            var syscallsInOrder = dbs[arch].Syscalls.Values.ToList();
            if (arch == SyscallArch.X86_64 && dbs.TryGetValue(SyscallArch.X32, out var x32Db)) syscallsInOrder.AddRange(x32Db.Syscalls.Values);
            try { filters.Add(new TreeFlattener.ArchFilter(arch, TreeFlattener.ProgramOrder(syscallsInOrder))); }
            catch (LibseccompRuleException ex) { throw new ProfileException($"{SyscallTables.ScmpName(arch)}: {ex.Message}"); }
        }
        Dictionary<(object Key, uint Nr), List<CompiledRule>> flattened;
        try { flattened = TreeFlattener.FlattenProgram(filters, defaultAction); }
        catch (LibseccompRuleException ex)
        {
            var arch = (SyscallArch)(ex.Key ?? context.NativeArch);
            string name = ex.Nr is { } n ? SyscallTables.NameOf(arch, n) ?? SyscallTables.NameOf(SyscallArch.X32, n) ?? n.ToString(System.Globalization.CultureInfo.InvariantCulture) : "?";
            throw new ProfileException($"{name} on {SyscallTables.ScmpName(arch)}: {ex.Message}");
        }
        var compiledArches = new List<CompiledArch>();
        var badArch = new CompiledAction(SeccompAction.KillThread);
        foreach (uint audit in inFilter.Select(SyscallTables.AuditArchOf).Distinct().Order())
        {
            var syscalls = new Dictionary<uint, CompiledSyscall>();
            var archesHere = inFilter.Where(a => SyscallTables.AuditArchOf(a) == audit).ToList();
            uint? enosysFrom = null;
            foreach (var arch in archesHere)
            {
                var key = arch == SyscallArch.X32 && inFilter.Contains(SyscallArch.X86_64) ? SyscallArch.X86_64 : arch;
                foreach (var (nr, sys) in dbs[arch].Syscalls)
                    syscalls[nr] = CompileSyscall(sys, defaultAction, flattened.GetValueOrDefault(((object)key, nr)));
            }
            if (audit == SyscallTables.AuditArchX86_64)
            {
                enosys.TryGetValue(SyscallArch.X86_64, out uint x86Max);
                enosys.TryGetValue(SyscallArch.X32, out uint x32Max);
                enosysFrom = x86Max != 0 ? x86Max + 1 : x32Max != 0 ? x32Max + 1 : null;
                uint tableEnd = SyscallTables.Entries(SyscallArch.X32).Max(e => e.Nr);
                if (!archesHere.Contains(SyscallArch.X32))
                {
                    // libseccomp's x86_64-only filter sends every nr >= 0x40000000 to the bad-arch action.
                    for (uint nr = SyscallTables.X32SyscallBit; nr <= tableEnd; nr++)
                        syscalls[nr] = new CompiledSyscall(nr, [], badArch);
                    // ...except -1, which tracers use to skip a syscall: it reaches the syscall list and gets the default.
                    syscalls[uint.MaxValue] = new CompiledSyscall(uint.MaxValue, [], defaultAction);
                }
                else if (x86Max != 0)
                {
                    // The stub's x86_64 threshold lies below the x32 range; unnamed x32 numbers up to the x32 threshold still reach the filter.
                    uint end = x32Max != 0 ? x32Max : tableEnd;
                    for (uint nr = SyscallTables.X32SyscallBit; nr <= end; nr++)
                        if (!syscalls.ContainsKey(nr)) syscalls[nr] = new CompiledSyscall(nr, [], defaultAction);
                }
            }
            else
            {
                var arch = archesHere[0];
                enosysFrom = enosys.TryGetValue(arch, out uint max) && max != 0 ? max + 1 : null;
            }
            var list = syscalls.Values
                .Where(s => !(s.Rules.Count == 0 && s.Fallback == defaultAction && (enosysFrom is null || s.Nr < enosysFrom)))
                .ToList();
            list.Sort((a, b) => a.Nr.CompareTo(b.Nr));
            compiledArches.Add(new CompiledArch(audit, defaultAction, enosysFrom, list));
        }

        var unhashed = new CompiledProfile("", badArch, compiledArches);
        byte[] encoding = CompiledProfileEncoding.Encode(unhashed);
        string hash = Convert.ToHexStringLower(SHA256.HashData(encoding));
        var profileOut = unhashed with
        {
            Hash = hash,
            Origins = origins.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<int>)kv.Value),
        };
        int entries = compiledArches.Sum(a => a.Syscalls.Count + a.Syscalls.Sum(s => s.Rules.Count));
        return new CompileResult(profileOut, encoding.Length, entries, warnings);
    }

    private static CompiledSyscall CompileSyscall(DbSyscall sys, CompiledAction defaultAction, List<CompiledRule>? flattened)
    {
        if (sys.Chains is null || flattened is null) return new CompiledSyscall(sys.Nr, [], sys.Action);
        var rules = new List<CompiledRule>(flattened);
        var fallback = defaultAction;
        int unconditional = rules.FindIndex(r => r.Checks.Count == 0);
        if (unconditional >= 0)
        {
            fallback = rules[unconditional].Action;
            rules.RemoveRange(unconditional, rules.Count - unconditional);
        }
        while (rules.Count > 0 && rules[^1].Action == fallback) rules.RemoveAt(rules.Count - 1);
        return new CompiledSyscall(sys.Nr, rules, fallback);
    }

    /// <summary>runc's -ENOSYS stub (libcontainer/seccomp/patchbpf): the highest syscall number the profile names, per listed ABI.</summary>
    private static Dictionary<SyscallArch, uint> EnosysThresholds(SeccompProfile profile, IReadOnlyList<SyscallRule> rules, HashSet<SyscallArch> listed)
    {
        var result = new Dictionary<SyscallArch, uint>();
        // runc compares defaultErrnoRet with the whole SCMP_ACT_ERRNO(ENOSYS) value (0x50026), not with 38.
        if (profile.DefaultErrnoRet == 0x50026UL) return result;
        if (profile.DefaultAction is ProfileAction.Allow or ProfileAction.Log or ProfileAction.Trace) return result;
        foreach (var arch in listed)
        {
            uint largest = 0;
            foreach (var rule in rules)
                foreach (string name in rule.Names)
                    if (SyscallTables.Resolve(arch, name) is { } nr && nr > largest) largest = nr;
            if (largest != 0) result[arch] = largest;
        }
        return result;
    }
}
