using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Probing;
using SeccompEbpf.Profiles.Parsing;

namespace SeccompEbpf.Bpf.Tests;

/// <summary>The LSM hook table against this kernel's own BTF (/sys/kernel/btf/vmlinux), as the prober checks it.</summary>
public sealed class VmlinuxBtfTests
{
    [Fact]
    public void TheRunningKernelsBtfHasEveryHookOfTheTableAndNoInventedOne()
    {
        var functions = VmlinuxBtf.FunctionNames(File.ReadAllBytes(VmlinuxBtf.DefaultPath));
        Assert.NotNull(functions);
        Assert.Contains("bpf_lsm_file_open", functions);
        Assert.Contains("security_file_open", functions);

        var missing = VmlinuxBtf.MissingLsmHooks([.. LsmHookTable.Hooks, "no_such_hook_anywhere"]);
        Assert.NotNull(missing);
        // every hook of the table exists on the kernels this project supports (the host's and the guests')
        Assert.Equal(["no_such_hook_anywhere"], missing.Order());

        // the fmod_ret fallback attaches to each hook's security_* function: every one exists too (settime's is
        // security_settime64; checked also against the BTF of the Debian 6.1 and 6.12 guest kernels)
        var missingFunctions = VmlinuxBtf.MissingLsmHooks([.. LsmHookTable.Hooks, "no_such_hook_anywhere"], fmodRet: true);
        Assert.NotNull(missingFunctions);
        Assert.Equal(["no_such_hook_anywhere"], missingFunctions.Order());
        Assert.DoesNotContain("security_settime", functions);
        Assert.Contains(LsmHookTable.SecurityFunction("settime"), functions);
    }

    [Fact]
    public void PrefixesSelectExactlyTheNamesThatStartWithThem()
    {
        byte[] btf = File.ReadAllBytes(VmlinuxBtf.DefaultPath);
        var all = VmlinuxBtf.FunctionNames(btf)!;
        var selected = VmlinuxBtf.FunctionNames(btf, "bpf_lsm_", "__do_sys_")!;
        Assert.Equal(all.Where(n => n.StartsWith("bpf_lsm_", StringComparison.Ordinal) || n.StartsWith("__do_sys_", StringComparison.Ordinal)).Order(), selected.Order());
        Assert.Contains("bpf_lsm_file_open", selected);
        Assert.Contains("__do_sys_getppid", selected); // SYSCALL_DEFINE0: its __x64_sys_ entry is not in BTF
    }

    [Fact]
    public void ASyscallIsAbsentOnlyWhenNoFunctionOfItIsInTheKernel()
    {
        // getppid has only __do_sys_getppid, mkdir __x64_sys_mkdir; fchmodat2 came with 6.6 (the host's 6.18 and the
        // 6.12 guest have it, the 6.1 guest does not)
        var release = KernelVersion.TryParse(File.ReadAllText("/proc/sys/kernel/osrelease"));
        Assert.NotNull(release);
        var absent = VmlinuxBtf.AbsentSyscalls(VmlinuxBtf.KernelFunctions!, ["getppid", "mkdir", "fchmodat2", "no_such_syscall"]);
        Assert.Equal(release.Value.CompareTo(new KernelVersion(6, 6)) < 0 ? ["fchmodat2", "no_such_syscall"] : ["no_such_syscall"], absent.Order());
    }

    [Fact]
    public void NotBtfIsUnknownRatherThanEverythingMissing()
    {
        Assert.Null(VmlinuxBtf.FunctionNames(new byte[64]));
        string path = Path.Combine(Path.GetTempPath(), $"not-btf-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, [0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        try
        {
            Assert.Null(VmlinuxBtf.MissingLsmHooks(["file_open"], path)); // its type section runs past the end
            Assert.Null(VmlinuxBtf.MissingLsmHooks(["file_open"], path + ".absent"));
            Assert.Null(VmlinuxBtf.Functions(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
