namespace SeccompEbpf.Nri;

/// <summary>What the runtime told the plugin in Configure. Missing timeouts are filled with NRI's defaults (5 s, 2 s).</summary>
/// <param name="Name">Runtime name, e.g. "containerd".</param>
/// <param name="Version">Runtime version as sent, e.g. "1.7.24~ds1" or "v2.2.0".</param>
/// <param name="NriVersion">The runtime's NRI version (NRI 0.12 and later), else null.</param>
/// <param name="RegistrationTimeout">How long the runtime waits for registration.</param>
/// <param name="RequestTimeout">How long the runtime waits for any reply before dropping the plugin.</param>
public sealed record NriRuntimeInfo(string Name, string Version, string? NriVersion, TimeSpan RegistrationTimeout, TimeSpan RequestTimeout);
