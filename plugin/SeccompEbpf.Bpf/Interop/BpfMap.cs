namespace SeccompEbpf.Bpf.Interop;

/// <summary>A typed view of one BPF map's fd; the fd's owner (object or SafeBpfFdHandle) outlives it.</summary>
internal sealed unsafe class BpfMap(string name, int fd)
{
    internal string Name { get; } = name;
    internal int Fd { get; } = fd;

    internal const ulong Any = 0, NoExist = 1, Exist = 2;

    internal void Update<TKey, TValue>(TKey key, TValue value, ulong flags = Any)
        where TKey : unmanaged where TValue : unmanaged
        => Errors.CheckErrno(Interop.Libbpf.MapUpdateElem(Fd, &key, &value, flags), $"bpf_map_update_elem({Name})");

    internal bool TryLookup<TKey, TValue>(TKey key, out TValue value)
        where TKey : unmanaged where TValue : unmanaged
    {
        TValue result = default;
        int rc = Interop.Libbpf.MapLookupElem(Fd, &key, &result);
        value = result;
        if (rc == 0)
            return true;
        int errno = Errors.LastErrno(rc);
        if (errno == 2 /* ENOENT */)
            return false;
        throw new BpfException($"bpf_map_lookup_elem({Name})", errno);
    }

    /// <summary>Per-CPU maps return one value per possible CPU.</summary>
    internal TValue[] LookupPerCpu<TKey, TValue>(TKey key, int possibleCpus)
        where TKey : unmanaged where TValue : unmanaged
    {
        var values = new TValue[possibleCpus];
        fixed (TValue* buffer = values)
            Errors.CheckErrno(Interop.Libbpf.MapLookupElem(Fd, &key, buffer), $"bpf_map_lookup_elem({Name})");
        return values;
    }

    /// <summary>Deletes the key; false when it was not there.</summary>
    internal bool Delete<TKey>(TKey key) where TKey : unmanaged
    {
        int rc = Interop.Libbpf.MapDeleteElem(Fd, &key);
        if (rc == 0)
            return true;
        int errno = Errors.LastErrno(rc);
        if (errno == 2)
            return false;
        throw new BpfException($"bpf_map_delete_elem({Name})", errno);
    }

    internal List<TKey> Keys<TKey>() where TKey : unmanaged
    {
        var keys = new List<TKey>();
        TKey current = default;
        TKey next;
        int rc = Interop.Libbpf.MapGetNextKey(Fd, null, &next);
        while (rc == 0)
        {
            keys.Add(next);
            current = next;
            rc = Interop.Libbpf.MapGetNextKey(Fd, &current, &next);
        }
        int errno = Errors.LastErrno(rc);
        if (errno != 2)
            throw new BpfException($"bpf_map_get_next_key({Name})", errno);
        return keys;
    }

    internal int Count<TKey>() where TKey : unmanaged => Keys<TKey>().Count;
}
