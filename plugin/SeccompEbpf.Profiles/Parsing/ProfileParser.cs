using System.Globalization;
using System.Text;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.Parsing;

/// <summary>Parses and validates seccomp profiles: OCI runtime-spec, Docker/moby and containers-common dialects.</summary>
public static class ProfileParser
{
    /// <summary>Largest accepted profile (Docker's default is 13 KB).</summary>
    public const int MaxProfileBytes = 4 << 20;
    /// <summary>Deepest accepted JSON nesting (a valid profile needs 5).</summary>
    public const int MaxDepth = 16;
    /// <summary>Most JSON values (objects, arrays, strings, numbers…) in one profile; Docker's default has about 1,000.</summary>
    public const int MaxJsonValues = 250_000;
    /// <summary>Most syscalls[] entries, names per entry and args per entry accepted.</summary>
    public const int MaxEntries = 65536;
    /// <summary>Largest errno libseccomp accepts (runc fails the container above it).</summary>
    public const int MaxErrno = 4094;

    internal static readonly string[] KnownArchitectures =
    [
        "SCMP_ARCH_NATIVE", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
    ];

    internal static readonly string[] KnownFlags =
    [
        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ];

    /// <summary>Parses a profile file (a regular file, read with <see cref="ProfileFile"/>); I/O errors become a diagnostic.</summary>
    public static ProfileParseResult ParseFile(string path)
    {
        try { return Parse(ProfileFile.ReadAllBytes(path)); }
        catch (IOException ex) { return Fail(0, "$", ReadProblem(path, ex)); }
        catch (UnauthorizedAccessException ex) { return Fail(0, "$", $"cannot read {path}: {ex.Message}"); }
    }

    /// <summary>Parses a profile file without blocking a thread on I/O; I/O errors become a diagnostic.</summary>
    public static async Task<ProfileParseResult> ParseFileAsync(string path, CancellationToken cancellationToken = default)
    {
        try { return Parse(await ProfileFile.ReadAllBytesAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false)); }
        catch (IOException ex) { return Fail(0, "$", ReadProblem(path, ex)); }
        catch (UnauthorizedAccessException ex) { return Fail(0, "$", $"cannot read {path}: {ex.Message}"); }
    }

    // ProfileFileException messages already name the path.
    private static string ReadProblem(string path, IOException ex) => ex is ProfileFileException ? ex.Message : $"cannot read {path}: {ex.Message}";

    /// <summary>Parses a profile from a string.</summary>
    public static ProfileParseResult Parse(string json) => Parse(Encoding.UTF8.GetBytes(json));

    /// <summary>Parses a profile from UTF-8 bytes.</summary>
    public static ProfileParseResult Parse(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxProfileBytes)
            return Fail(0, "$", $"profile is {utf8.Length} bytes; the limit is {MaxProfileBytes}");
        if (utf8.Length >= 3 && utf8[0] == 0xEF && utf8[1] == 0xBB && utf8[2] == 0xBF) utf8 = utf8[3..];
        var root = JsonTree.Parse(utf8, MaxDepth, MaxJsonValues, out var error);
        if (root is null) return Fail(error!.Value.Line, "$", error.Value.Message);
        var binder = new Binder();
        var profile = binder.BindProfile(root);
        return new ProfileParseResult(binder.HasErrors ? null : profile, binder.Diagnostics);
    }

    /// <summary>Parses or throws a <see cref="ProfileException"/> listing every error.</summary>
    public static SeccompProfile ParseOrThrow(string json, string source = "profile")
    {
        var result = Parse(json);
        if (result.Profile is null)
            throw new ProfileException(string.Join(Environment.NewLine, result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.Format(source))), result.Diagnostics);
        return result.Profile;
    }

    private static ProfileParseResult Fail(int line, string path, string message) =>
        new(null, [new ProfileDiagnostic(DiagnosticSeverity.Error, line, path, Readable(message, 400))]);

    /// <summary>Keeps diagnostics one short line even when they quote hostile input.</summary>
    internal static string Readable(string text, int max)
    {
        var sb = new StringBuilder(Math.Min(text.Length, max + 1));
        foreach (char c in text)
        {
            if (sb.Length >= max) { sb.Append('…'); break; }
            sb.Append(char.IsControl(c) ? ' ' : c);
        }
        return sb.ToString();
    }

    /// <summary>Parses an SCMP_ACT_* name.</summary>
    public static ProfileAction? ParseAction(string text) => text switch
    {
        "SCMP_ACT_KILL" => ProfileAction.Kill,
        "SCMP_ACT_KILL_THREAD" => ProfileAction.KillThread,
        "SCMP_ACT_KILL_PROCESS" => ProfileAction.KillProcess,
        "SCMP_ACT_TRAP" => ProfileAction.Trap,
        "SCMP_ACT_ERRNO" => ProfileAction.Errno,
        "SCMP_ACT_TRACE" => ProfileAction.Trace,
        "SCMP_ACT_ALLOW" => ProfileAction.Allow,
        "SCMP_ACT_LOG" => ProfileAction.Log,
        "SCMP_ACT_NOTIFY" => ProfileAction.Notify,
        _ => null,
    };

    /// <summary>The SCMP_ACT_* spelling of an action.</summary>
    public static string ActionName(ProfileAction action) => action switch
    {
        ProfileAction.Kill => "SCMP_ACT_KILL",
        ProfileAction.KillThread => "SCMP_ACT_KILL_THREAD",
        ProfileAction.KillProcess => "SCMP_ACT_KILL_PROCESS",
        ProfileAction.Trap => "SCMP_ACT_TRAP",
        ProfileAction.Errno => "SCMP_ACT_ERRNO",
        ProfileAction.Trace => "SCMP_ACT_TRACE",
        ProfileAction.Allow => "SCMP_ACT_ALLOW",
        ProfileAction.Log => "SCMP_ACT_LOG",
        _ => "SCMP_ACT_NOTIFY",
    };

    /// <summary>Parses an SCMP_CMP_* name.</summary>
    public static CompareOp? ParseOp(string text) => text switch
    {
        "SCMP_CMP_NE" => CompareOp.NotEqual,
        "SCMP_CMP_LT" => CompareOp.LessThan,
        "SCMP_CMP_LE" => CompareOp.LessOrEqual,
        "SCMP_CMP_EQ" => CompareOp.Equal,
        "SCMP_CMP_GE" => CompareOp.GreaterOrEqual,
        "SCMP_CMP_GT" => CompareOp.GreaterThan,
        "SCMP_CMP_MASKED_EQ" => CompareOp.MaskedEqual,
        _ => null,
    };

    /// <summary>The SCMP_CMP_* spelling of an operator.</summary>
    public static string OpName(CompareOp op) => op switch
    {
        CompareOp.NotEqual => "SCMP_CMP_NE",
        CompareOp.LessThan => "SCMP_CMP_LT",
        CompareOp.LessOrEqual => "SCMP_CMP_LE",
        CompareOp.Equal => "SCMP_CMP_EQ",
        CompareOp.GreaterOrEqual => "SCMP_CMP_GE",
        CompareOp.GreaterThan => "SCMP_CMP_GT",
        _ => "SCMP_CMP_MASKED_EQ",
    };

    internal static bool TakesErrno(ProfileAction a) => a is ProfileAction.Errno or ProfileAction.Trace;

    private sealed class Binder
    {
        public List<ProfileDiagnostic> Diagnostics { get; } = [];
        public bool HasErrors { get; private set; }

        private void Error(int line, string path, string message)
        {
            HasErrors = true;
            if (Diagnostics.Count < 1000) Diagnostics.Add(new(DiagnosticSeverity.Error, line, Readable(path, 200), Readable(message, 400)));
        }

        private void Warn(int line, string path, string message)
        {
            if (Diagnostics.Count < 1000) Diagnostics.Add(new(DiagnosticSeverity.Warning, line, Readable(path, 200), Readable(message, 400)));
        }

        /// <summary>Looks up properties exactly, then case-insensitively as Go's encoding/json does; flags duplicates and unknown keys.</summary>
        private Dictionary<string, (int Line, JsonTreeNode Value)> Fields(JsonTreeNode obj, string path, string[] known)
        {
            var result = new Dictionary<string, (int, JsonTreeNode)>(StringComparer.Ordinal);
            foreach (var (key, line, value) in obj.Properties!)
            {
                string? canonical = known.FirstOrDefault(k => k == key);
                if (canonical is null)
                {
                    canonical = known.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
                    if (canonical is not null)
                        Warn(line, $"{path}.{key}", $"key matched \"{canonical}\" case-insensitively (as runc's Go decoder does); write \"{canonical}\"");
                }
                if (canonical is null)
                {
                    Warn(line, $"{path}.{key}", $"unknown key is ignored (known keys: {string.Join(", ", known)})");
                    continue;
                }
                if (!result.TryAdd(canonical, (line, value)))
                    Error(line, $"{path}.{key}", $"duplicate key \"{canonical}\"");
            }
            return result;
        }

        private bool Expect(JsonTreeNode node, JsonKind kind, string path, string what)
        {
            if (node.Kind == kind) return true;
            Error(node.Line, path, $"expected {what}, got {node.Describe()}");
            return false;
        }

        private string? ReadString(Dictionary<string, (int Line, JsonTreeNode Value)> f, string key, string path)
        {
            if (!f.TryGetValue(key, out var v) || v.Value.Kind == JsonKind.Null) return null;
            return Expect(v.Value, JsonKind.String, $"{path}.{key}", "a string") ? v.Value.Text : null;
        }

        private ulong? ReadUInt(JsonTreeNode node, string path, string what)
        {
            if (node.Kind == JsonKind.Null) return null;
            if (!Expect(node, JsonKind.Number, path, what)) return null;
            string text = node.Text!;
            if (text.StartsWith('-'))
            {
                Error(node.Line, path, $"{what} must not be negative (got {text})");
                return null;
            }
            if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                Error(node.Line, path, $"{what} must be an integer between 0 and 18446744073709551615 (got {text})");
                return null;
            }
            return value;
        }

        private List<string> ReadStringList(Dictionary<string, (int Line, JsonTreeNode Value)> f, string key, string path)
        {
            var list = new List<string>();
            if (!f.TryGetValue(key, out var v) || v.Value.Kind == JsonKind.Null) return list;
            if (!Expect(v.Value, JsonKind.Array, $"{path}.{key}", "an array of strings")) return list;
            if (v.Value.Items!.Count > MaxEntries)
            {
                Error(v.Value.Line, $"{path}.{key}", $"has {v.Value.Items.Count} entries; the limit is {MaxEntries}");
                return list;
            }
            for (int i = 0; i < v.Value.Items.Count; i++)
            {
                var item = v.Value.Items[i];
                if (Expect(item, JsonKind.String, $"{path}.{key}[{i}]", "a string")) list.Add(item.Text!);
            }
            return list;
        }

        private ushort? ErrnoByName(string? name, int line, string path)
        {
            if (name is null) return null;
            var errno = SyscallTables.ErrnoFromName(name);
            if (errno is null) Error(line, path, $"unknown errno name \"{name}\" (expected a Linux name such as EPERM or ENOSYS)");
            return errno;
        }

        private void CheckErrno(ulong value, int line, string path)
        {
            // runc passes errnoRet through int16 and libseccomp keeps the low 16 bits; it refuses anything that then exceeds 4094.
            if ((value & 0xFFFF) > MaxErrno)
                Error(line, path, value > 0xFFFF
                    ? $"errno {value} is truncated to {value & 0xFFFF} (low 16 bits), which libseccomp refuses (must be <= {MaxErrno})"
                    : $"errno {value} is refused by libseccomp (must be <= {MaxErrno}); runc would fail the container");
            else if (value > 0xFFFF)
                Warn(line, path, $"errno {value} is truncated to its low 16 bits ({value & 0xFFFF}) as runc and libseccomp do");
        }

        private ProfileAction? ReadAction(Dictionary<string, (int Line, JsonTreeNode Value)> f, string key, string path, int parentLine, bool required)
        {
            if (!f.TryGetValue(key, out var v) || v.Value.Kind == JsonKind.Null)
            {
                if (required) Error(parentLine, $"{path}.{key}", "is required");
                return null;
            }
            if (!Expect(v.Value, JsonKind.String, $"{path}.{key}", "an action name such as SCMP_ACT_ERRNO")) return null;
            var action = ParseAction(v.Value.Text!);
            if (action is null)
                Error(v.Line, $"{path}.{key}", $"unknown action \"{v.Value.Text}\" (expected one of SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_ERRNO, SCMP_ACT_TRACE, SCMP_ACT_ALLOW, SCMP_ACT_LOG, SCMP_ACT_NOTIFY)");
            return action;
        }

        private ulong? ReadErrno(Dictionary<string, (int Line, JsonTreeNode Value)> f, string numberKey, string nameKey, string path, ProfileAction? action)
        {
            ulong? number = null;
            int line = 0;
            string keyUsed = numberKey;
            if (f.TryGetValue(numberKey, out var n))
            {
                number = ReadUInt(n.Value, $"{path}.{numberKey}", numberKey);
                line = n.Line;
            }
            if (f.TryGetValue(nameKey, out var s) && s.Value.Kind != JsonKind.Null)
            {
                string? name = Expect(s.Value, JsonKind.String, $"{path}.{nameKey}", "an errno name such as EPERM") ? s.Value.Text : null;
                var byName = ErrnoByName(name, s.Line, $"{path}.{nameKey}");
                if (byName is not null)
                {
                    if (number is not null && number != byName)
                        Error(s.Line, $"{path}.{nameKey}", $"\"{name}\" is {byName} but {numberKey} says {number}; give one of them");
                    number ??= byName;
                    line = line == 0 ? s.Line : line;
                    keyUsed = number == byName && !f.ContainsKey(numberKey) ? nameKey : numberKey;
                }
            }
            if (number is null) return null;
            if (action is { } a && !TakesErrno(a))
            {
                Error(line, $"{path}.{keyUsed}", $"{keyUsed} is only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {ActionName(a)}");
                return null;
            }
            if (action is ProfileAction.Errno) CheckErrno(number.Value, line, $"{path}.{keyUsed}");
            return number;
        }

        public SeccompProfile? BindProfile(JsonTreeNode root)
        {
            if (!Expect(root, JsonKind.Object, "$", "a JSON object at the top level")) return null;
            var f = Fields(root, "$", ["defaultAction", "defaultErrnoRet", "defaultErrno", "architectures", "archMap", "flags", "listenerPath", "listenerMetadata", "syscalls"]);
            var defaultAction = ReadAction(f, "defaultAction", "$", root.Line, required: true);
            var defaultErrno = ReadErrno(f, "defaultErrnoRet", "defaultErrno", "$", defaultAction);
            if (defaultAction is ProfileAction.Notify)
                Error(f["defaultAction"].Line, "$.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action (runc refuses it)");

            var architectures = ReadStringList(f, "architectures", "$");
            for (int i = 0; i < architectures.Count; i++)
                if (!KnownArchitectures.Contains(architectures[i]))
                    Error(f["architectures"].Value.Items![i].Line, $"$.architectures[{i}]", $"unknown architecture \"{architectures[i]}\" (expected SCMP_ARCH_*)");

            var archMap = new List<ArchMapEntry>();
            if (f.TryGetValue("archMap", out var am) && am.Value.Kind != JsonKind.Null && Expect(am.Value, JsonKind.Array, "$.archMap", "an array"))
            {
                for (int i = 0; i < am.Value.Items!.Count && i < MaxEntries; i++)
                {
                    var item = am.Value.Items[i];
                    string p = $"$.archMap[{i}]";
                    if (!Expect(item, JsonKind.Object, p, "an object")) continue;
                    var af = Fields(item, p, ["architecture", "subArchitectures"]);
                    string? arch = ReadString(af, "architecture", p);
                    if (arch is null) Error(item.Line, $"{p}.architecture", "is required");
                    else if (!KnownArchitectures.Contains(arch)) Error(af["architecture"].Line, $"{p}.architecture", $"unknown architecture \"{arch}\"");
                    var subs = ReadStringList(af, "subArchitectures", p);
                    for (int j = 0; j < subs.Count; j++)
                        if (!KnownArchitectures.Contains(subs[j]))
                            Error(af["subArchitectures"].Value.Items![j].Line, $"{p}.subArchitectures[{j}]", $"unknown architecture \"{subs[j]}\"");
                    if (arch is not null) archMap.Add(new ArchMapEntry(arch, subs));
                }
            }
            if (architectures.Count > 0 && archMap.Count > 0)
                Error(f["archMap"].Line, "$.archMap", "'architectures' and 'archMap' were both given; use one of them (Docker refuses both)");

            var flags = ReadStringList(f, "flags", "$");
            for (int i = 0; i < flags.Count; i++)
                if (!KnownFlags.Contains(flags[i]))
                    Error(f["flags"].Value.Items![i].Line, $"$.flags[{i}]", $"seccomp flag \"{flags[i]}\" is not known to runc");

            string? listenerPath = ReadString(f, "listenerPath", "$");
            string? listenerMetadata = ReadString(f, "listenerMetadata", "$");
            if (!string.IsNullOrEmpty(listenerMetadata) && string.IsNullOrEmpty(listenerPath))
                Error(f["listenerMetadata"].Line, "$.listenerMetadata", "listenerMetadata is only allowed together with listenerPath");

            var syscalls = new List<SyscallRule>();
            if (f.TryGetValue("syscalls", out var sc) && sc.Value.Kind != JsonKind.Null && Expect(sc.Value, JsonKind.Array, "$.syscalls", "an array"))
            {
                if (sc.Value.Items!.Count > MaxEntries)
                    Error(sc.Line, "$.syscalls", $"has {sc.Value.Items.Count} entries; the limit is {MaxEntries}");
                else
                    for (int i = 0; i < sc.Value.Items.Count; i++)
                        if (BindRule(sc.Value.Items[i], i) is { } rule) syscalls.Add(rule);
            }

            if (defaultAction is null) return null;
            return new SeccompProfile(defaultAction.Value, defaultErrno, architectures, archMap, flags, listenerPath, listenerMetadata, syscalls);
        }

        private SyscallRule? BindRule(JsonTreeNode node, int index)
        {
            string p = $"$.syscalls[{index}]";
            if (!Expect(node, JsonKind.Object, p, "an object")) return null;
            var f = Fields(node, p, ["names", "name", "action", "errnoRet", "errno", "args", "comment", "includes", "excludes"]);
            var names = ReadStringList(f, "names", p);
            string? single = ReadString(f, "name", p);
            bool hasNames = f.TryGetValue("names", out var namesField) && namesField.Value.Kind != JsonKind.Null;
            if (single is not null && hasNames)
                Error(f["name"].Line, $"{p}.name", "both 'name' and 'names' are set; use 'names'");
            else if (single is not null)
                names.Add(single);
            else if (!hasNames)
                Error(node.Line, $"{p}.names", "is required (a non-empty list of syscall names)");
            else if (names.Count == 0 && namesField.Value.Kind == JsonKind.Array)
                Error(namesField.Line, $"{p}.names", "must list at least one syscall");
            for (int i = 0; i < names.Count; i++)
            {
                string np = single is not null ? $"{p}.name" : $"{p}.names[{i}]";
                int line = single is not null ? f["name"].Line : namesField.Value.Items![i].Line;
                if (names[i].Length == 0) Error(line, np, "empty string is not a valid syscall name");
                else if (!SyscallTables.IsKnownAnywhere(names[i]))
                    Warn(line, np, $"unknown syscall \"{names[i]}\" is skipped (as runc does)");
            }

            var action = ReadAction(f, "action", p, node.Line, required: true);
            var errno = ReadErrno(f, "errnoRet", "errno", p, action);
            if (action is ProfileAction.Notify && names.Contains("write"))
                Error(f["action"].Line, $"{p}.action", "SCMP_ACT_NOTIFY cannot be used for the write syscall (runc refuses it)");

            var args = new List<ArgCondition>();
            if (f.TryGetValue("args", out var a) && a.Value.Kind != JsonKind.Null && Expect(a.Value, JsonKind.Array, $"{p}.args", "an array"))
            {
                if (a.Value.Items!.Count > 64)
                    Error(a.Line, $"{p}.args", $"has {a.Value.Items.Count} conditions; the limit is 64");
                else
                    for (int i = 0; i < a.Value.Items.Count; i++)
                        if (BindArg(a.Value.Items[i], $"{p}.args[{i}]") is { } arg) args.Add(arg);
            }

            string? comment = ReadString(f, "comment", p);
            var includes = BindFilter(f, "includes", p);
            var excludes = BindFilter(f, "excludes", p);
            if (action is null) return null;
            return new SyscallRule(names, action.Value, errno, args, includes, excludes, comment, index, node.Line);
        }

        private ArgCondition? BindArg(JsonTreeNode node, string p)
        {
            if (!Expect(node, JsonKind.Object, p, "an object")) return null;
            var f = Fields(node, p, ["index", "value", "valueTwo", "op"]);
            ulong? index = f.TryGetValue("index", out var i) ? ReadUInt(i.Value, $"{p}.index", "index") : null;
            if (!f.ContainsKey("index")) Error(node.Line, $"{p}.index", "is required");
            else if (index > 5) { Error(i.Line, $"{p}.index", $"argument index {index} is out of range (syscalls have arguments 0 to 5)"); index = null; }
            ulong? value = f.TryGetValue("value", out var v) ? ReadUInt(v.Value, $"{p}.value", "value") : null;
            ulong? valueTwo = f.TryGetValue("valueTwo", out var v2) ? ReadUInt(v2.Value, $"{p}.valueTwo", "valueTwo") : null;
            CompareOp? op = null;
            if (!f.TryGetValue("op", out var o)) Error(node.Line, $"{p}.op", "is required");
            else if (Expect(o.Value, JsonKind.String, $"{p}.op", "an operator name such as SCMP_CMP_EQ"))
            {
                op = ParseOp(o.Value.Text!);
                if (op is null) Error(o.Line, $"{p}.op", $"unknown operator \"{o.Value.Text}\" (expected SCMP_CMP_NE, _LT, _LE, _EQ, _GE, _GT or _MASKED_EQ)");
            }
            if (op is CompareOp.MaskedEqual && !f.ContainsKey("valueTwo"))
                Warn(node.Line, p, "SCMP_CMP_MASKED_EQ without valueTwo compares (arg & value) with 0");
            if (op is not null && op != CompareOp.MaskedEqual && valueTwo is > 0)
                Warn(v2.Line, $"{p}.valueTwo", $"valueTwo is ignored by {OpName(op.Value)}");
            if (index is null || op is null) return null;
            return new ArgCondition((uint)index.Value, value ?? 0, valueTwo ?? 0, op.Value);
        }

        private RuleFilter BindFilter(Dictionary<string, (int Line, JsonTreeNode Value)> parent, string key, string p)
        {
            if (!parent.TryGetValue(key, out var v) || v.Value.Kind == JsonKind.Null) return new RuleFilter([], [], null);
            string fp = $"{p}.{key}";
            if (!Expect(v.Value, JsonKind.Object, fp, "an object")) return new RuleFilter([], [], null);
            var f = Fields(v.Value, fp, ["caps", "arches", "minKernel"]);
            var caps = ReadStringList(f, "caps", fp);
            var arches = ReadStringList(f, "arches", fp);
            string? minKernel = ReadString(f, "minKernel", fp);
            if (minKernel is not null && KernelVersion.TryParse(minKernel) is null)
                Error(f["minKernel"].Line, $"{fp}.minKernel", $"\"{minKernel}\" is not a kernel version such as \"4.8\"");
            return new RuleFilter(caps, arches, minKernel);
        }
    }
}

/// <summary>A kernel version (major.minor[.patch]) as compared by Docker's minKernel.</summary>
public readonly record struct KernelVersion(int Major, int Minor, int Patch = 0) : IComparable<KernelVersion>
{
    /// <summary>Parses "5.10", "6.1.0-18-amd64" and the like; null when malformed.</summary>
    public static KernelVersion? TryParse(string text)
    {
        // Docker compares major.minor; anything after the digits of a part ("-18-amd64") is ignored.
        var parts = text.Split('.', 3);
        if (parts.Length < 2) return null;
        int? Number(string part)
        {
            string digits = new(part.TakeWhile(char.IsAsciiDigit).ToArray());
            return digits.Length is > 0 and <= 6 ? int.Parse(digits, CultureInfo.InvariantCulture) : null;
        }
        if (Number(parts[0]) is not { } major || parts[0].Length != major.ToString(CultureInfo.InvariantCulture).Length) return null;
        if (Number(parts[1]) is not { } minor) return null;
        int patch = parts.Length == 3 ? Number(parts[2]) ?? 0 : 0;
        return new KernelVersion(major, minor, patch);
    }

    /// <inheritdoc/>
    public int CompareTo(KernelVersion other) =>
        Major != other.Major ? Major.CompareTo(other.Major) : Minor != other.Minor ? Minor.CompareTo(other.Minor) : Patch.CompareTo(other.Patch);

    /// <inheritdoc/>
    public override string ToString() => $"{Major}.{Minor}.{Patch}";
}
