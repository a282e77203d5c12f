using System.Security.Cryptography;
using System.Text;
using SeccompEbpf.Profiles.Compiled;

namespace SeccompEbpf.Bpf.Tests.Infrastructure;

/// <summary>CompiledProfile records built directly (the tests do not depend on the parser).</summary>
internal static class TestProfiles
{
    internal const uint X86_64 = 0xC000003E;
    internal const uint I386 = 0x40000003;
    internal const uint Getppid = 110, Write = 1, Prctl = 157, Unlinkat = 263, Getpid = 39;
    internal const uint Getppid32 = 64;

    /// <summary>A profile for x86_64 (and i386 with the same default) whose hash is derived from the given label.</summary>
    internal static CompiledProfile Make(string label, CompiledAction defaultAction, params CompiledSyscall[] syscalls)
        => new(HashOf(label), new CompiledAction(SeccompAction.KillProcess),
            [
                new CompiledArch(X86_64, defaultAction, null, syscalls.OrderBy(s => s.Nr).ToList()),
                new CompiledArch(I386, defaultAction, null, []),
            ]);

    internal static CompiledSyscall Only(uint nr, CompiledAction action) => new(nr, [], action);

    internal static string HashOf(string label) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(label)));

    internal static CompiledAction Log(ushort tag = 0) => new(SeccompAction.Log, tag);
    internal static CompiledAction Kill => new(SeccompAction.KillProcess);

    /// <summary>
    /// The seed's write rule: write to fd 1 with at most 512 bytes allowed; fd 1 with more killed; other fds
    /// get <paramref name="otherFds"/> (ERRNO(EBADF) where LSM carries it, LOG on hosts without).
    /// </summary>
    internal static CompiledProfile WriteRule(CompiledAction overLimit, CompiledAction otherFds, string label)
        => Make(label, CompiledAction.Allow,
            new CompiledSyscall(Write,
            [
                new CompiledRule([new ArgCheck(0, CompareOp.Equal, 1), new ArgCheck(2, CompareOp.LessOrEqual, 512)], CompiledAction.Allow),
                new CompiledRule([new ArgCheck(0, CompareOp.Equal, 1), new ArgCheck(2, CompareOp.GreaterThan, 512)], overLimit),
            ], otherFds));

    /// <summary>Like Docker's default profile in size: about 350 named syscalls, a few conditional rules, ERRNO(EPERM) default.</summary>
    internal static CompiledProfile DockerSized(CompiledAction defaultAction, string label = "docker-sized")
    {
        var syscalls = new List<CompiledSyscall>();
        for (uint nr = 0; nr < 335; nr++)
        {
            if (nr == 56) // clone: Docker's namespace-flag rule
                syscalls.Add(new CompiledSyscall(nr, [new CompiledRule([new ArgCheck(0, CompareOp.MaskedEqual, 0x7E020000, 0)], CompiledAction.Allow)], CompiledAction.Errno(1)));
            else if (nr == 135) // personality: a few allowed values
                syscalls.Add(new CompiledSyscall(nr,
                    [
                        new CompiledRule([new ArgCheck(0, CompareOp.Equal, 0)], CompiledAction.Allow),
                        new CompiledRule([new ArgCheck(0, CompareOp.Equal, 8)], CompiledAction.Allow),
                        new CompiledRule([new ArgCheck(0, CompareOp.Equal, 0x20000)], CompiledAction.Allow),
                        new CompiledRule([new ArgCheck(0, CompareOp.Equal, 0x20008)], CompiledAction.Allow),
                        new CompiledRule([new ArgCheck(0, CompareOp.Equal, 0xffffffff)], CompiledAction.Allow),
                    ], CompiledAction.Errno(1)));
            else
                syscalls.Add(Only(nr, CompiledAction.Allow));
        }
        for (uint nr = 424; nr < 440; nr++)
            syscalls.Add(Only(nr, CompiledAction.Allow));
        return new CompiledProfile(HashOf(label), new CompiledAction(SeccompAction.KillProcess),
            [new CompiledArch(X86_64, defaultAction, null, syscalls)]);
    }
}
