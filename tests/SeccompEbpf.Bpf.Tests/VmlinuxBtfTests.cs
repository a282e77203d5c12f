using SeccompEbpf.Bpf.Enforcement;
using SeccompEbpf.Bpf.Probing;

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
        }
        finally
        {
            File.Delete(path);
        }
    }
}
