using System.Security.Cryptography;
using SeccompEbpf.Profiles.Compilation;
using SeccompEbpf.Profiles.Compiled;
using SeccompEbpf.Profiles.Model;
using SeccompEbpf.Profiles.Parsing;
using SeccompEbpf.Profiles.Syscalls;

namespace SeccompEbpf.Profiles.BuiltIns;

/// <summary>Profiles shipped with the engine: runtime/default, unconfined, audit, strict.</summary>
public static class BuiltInProfiles
{
    /// <summary>containerd's RuntimeDefault (Docker's default profile plus cachestat, fchmodat2, map_shadow_stack and the futex2 calls) minus io_uring_setup/enter/register (moby#46762).</summary>
    public const string RuntimeDefault = "runtime/default";
    /// <summary>No filter at all: every syscall of every architecture is allowed.</summary>
    public const string Unconfined = "unconfined";
    /// <summary>Allow and log every syscall.</summary>
    public const string Audit = "audit";
    /// <summary>Only read, write, exit, exit_group and rt_sigreturn; everything else KILL_PROCESS.</summary>
    public const string Strict = "strict";

    /// <summary>The built-in names.</summary>
    public static IReadOnlyList<string> Names { get; } = [RuntimeDefault, Unconfined, Audit, Strict];

    private static readonly Lazy<string> RuntimeDefaultJson = new(() =>
    {
        using var stream = typeof(BuiltInProfiles).Assembly.GetManifestResourceStream("SeccompEbpf.Profiles.BuiltIns.runtime-default.json")
            ?? throw new InvalidOperationException("embedded resource runtime-default.json is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    /// <summary>True when <paramref name="name"/> names a built-in profile.</summary>
    public static bool IsBuiltIn(string name) => Names.Contains(name);

    /// <summary>The built-in profile as JSON.</summary>
    public static string Json(string name) => name switch
    {
        RuntimeDefault => RuntimeDefaultJson.Value,
        Unconfined => """{ "defaultAction": "SCMP_ACT_ALLOW" }""",
        Audit => """
            {
              "defaultAction": "SCMP_ACT_LOG",
              "archMap": [
                { "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
                { "architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"] }
              ]
            }
            """,
        Strict => StrictJson(),
        _ => throw new ProfileException($"unknown built-in profile \"{name}\" (known: {string.Join(", ", Names)})"),
    };

    private static string StrictJson()
    {
        // Under runc, syscalls numbered above every name in the profile get ENOSYS instead of the default action.
        // Naming each table's highest syscall with the default action (runc skips such rules) keeps KILL_PROCESS in force.
        var highest = new[] { SyscallArch.X86_64, SyscallArch.I386, SyscallArch.X32, SyscallArch.Aarch64 }
            .Select(a => SyscallTables.Entries(a).MaxBy(e => e.Nr).Name).Distinct().Select(n => $"\"{n}\"");
        return $$"""
            {
              "defaultAction": "SCMP_ACT_KILL_PROCESS",
              "archMap": [
                { "architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"] },
                { "architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"] }
              ],
              "syscalls": [
                { "names": ["read", "write", "exit", "exit_group", "rt_sigreturn"], "action": "SCMP_ACT_ALLOW" },
                { "names": [{{string.Join(", ", highest)}}], "action": "SCMP_ACT_KILL_PROCESS",
                  "comment": "names the highest syscall numbers so runc's -ENOSYS stub does not replace KILL_PROCESS" }
              ]
            }
            """;
    }

    /// <summary>The parsed built-in profile.</summary>
    public static SeccompProfile Get(string name) => ProfileParser.ParseOrThrow(Json(name), name);

    /// <summary>Compiles a built-in; unconfined compiles to "allow everything, every architecture" (no filter at all).</summary>
    public static CompileResult Compile(string name, CompileContext context)
    {
        if (name != Unconfined) return ProfileCompiler.Compile(Get(name), context);
        var empty = new CompiledProfile("", CompiledAction.Allow, []);
        byte[] encoding = CompiledProfileEncoding.Encode(empty);
        return new CompileResult(empty with { Hash = Convert.ToHexStringLower(SHA256.HashData(encoding)) }, encoding.Length, 0, []);
    }
}
