using System.Globalization;
using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>Event subscription bits and the runtime-version rules that limit them.</summary>
public static class NriEventMask
{
    /// <summary>Events every runtime knows (NRI before 0.10: containerd 1.7, 2.0, 2.1).</summary>
    public const int ValidEventsBeforeNri010 = 0x7FF;

    /// <summary>Events of NRI 0.10 and later (containerd 2.2 and later): adds the pod-update and validation events.</summary>
    public const int ValidEventsSinceNri010 = 0x3FFF;

    /// <summary>The subscription bit of <paramref name="event"/>: <c>1 &lt;&lt; (event - 1)</c>.</summary>
    public static int Bit(Event @event) => 1 << ((int)@event - 1);

    /// <summary>
    /// The events a runtime accepts. Uses the runtime's NRI version when it sent one, otherwise the
    /// containerd release (Debian's "1.7.24~ds1" is normalised first). Unknown runtimes get the old, safe set,
    /// because an unknown bit makes the runtime refuse the plugin.
    /// </summary>
    public static int ValidEventsFor(NriRuntimeInfo runtime)
    {
        if (!string.IsNullOrEmpty(runtime.NriVersion) && TryParseVersion(runtime.NriVersion, out Version? nri))
        {
            return nri >= new Version(0, 10) ? ValidEventsSinceNri010 : ValidEventsBeforeNri010;
        }

        if (string.Equals(runtime.Name, "containerd", StringComparison.OrdinalIgnoreCase)
            && TryParseVersion(runtime.Version, out Version? containerd))
        {
            return containerd >= new Version(2, 2) ? ValidEventsSinceNri010 : ValidEventsBeforeNri010;
        }

        return ValidEventsBeforeNri010;
    }

    /// <summary>
    /// Parses "v2.2.0", "1.7.24~ds1", "2.1.0-rc.1+build" and the like into major.minor.patch.
    /// Distribution and pre-release suffixes are cut off; a bare "1.7" is accepted.
    /// </summary>
    public static bool TryParseVersion(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Version? version)
    {
        version = null;
        ReadOnlySpan<char> s = text.AsSpan().Trim();
        if (s.Length > 0 && (s[0] == 'v' || s[0] == 'V'))
        {
            s = s[1..];
        }

        int cut = s.IndexOfAny('~', '-', '+');
        if (cut >= 0)
        {
            s = s[..cut];
        }

        Span<int> parts = stackalloc int[3];
        int count = 0;
        foreach (Range range in s.Split('.'))
        {
            if (count == 3 || !int.TryParse(s[range], NumberStyles.None, CultureInfo.InvariantCulture, out parts[count]))
            {
                return false;
            }

            count++;
        }

        if (count < 2)
        {
            return false;
        }

        version = new Version(parts[0], parts[1], parts[2]);
        return true;
    }
}
