using Nri.Pkg.Api.V1Alpha1;

namespace SeccompEbpf.Nri;

/// <summary>The handler interfaces one plugin object implements, found once with type tests, and the events they cover.</summary>
internal sealed class NriHandlerSet
{
    public NriHandlerSet(object handlers)
    {
        Configure = handlers as IConfigureHandler;
        Synchronize = handlers as ISynchronizeHandler;
        RunPodSandbox = handlers as IRunPodSandboxHandler;
        StopPodSandbox = handlers as IStopPodSandboxHandler;
        RemovePodSandbox = handlers as IRemovePodSandboxHandler;
        UpdatePodSandbox = handlers as IUpdatePodSandboxHandler;
        PostUpdatePodSandbox = handlers as IPostUpdatePodSandboxHandler;
        CreateContainer = handlers as ICreateContainerHandler;
        PostCreateContainer = handlers as IPostCreateContainerHandler;
        StartContainer = handlers as IStartContainerHandler;
        PostStartContainer = handlers as IPostStartContainerHandler;
        UpdateContainer = handlers as IUpdateContainerHandler;
        PostUpdateContainer = handlers as IPostUpdateContainerHandler;
        StopContainer = handlers as IStopContainerHandler;
        RemoveContainer = handlers as IRemoveContainerHandler;
        ValidateContainerAdjustment = handlers as IValidateContainerAdjustmentHandler;

        int mask = 0;
        mask |= RunPodSandbox is null ? 0 : NriEventMask.Bit(Event.RunPodSandbox);
        mask |= StopPodSandbox is null ? 0 : NriEventMask.Bit(Event.StopPodSandbox);
        mask |= RemovePodSandbox is null ? 0 : NriEventMask.Bit(Event.RemovePodSandbox);
        mask |= CreateContainer is null ? 0 : NriEventMask.Bit(Event.CreateContainer);
        mask |= PostCreateContainer is null ? 0 : NriEventMask.Bit(Event.PostCreateContainer);
        mask |= StartContainer is null ? 0 : NriEventMask.Bit(Event.StartContainer);
        mask |= PostStartContainer is null ? 0 : NriEventMask.Bit(Event.PostStartContainer);
        mask |= UpdateContainer is null ? 0 : NriEventMask.Bit(Event.UpdateContainer);
        mask |= PostUpdateContainer is null ? 0 : NriEventMask.Bit(Event.PostUpdateContainer);
        mask |= StopContainer is null ? 0 : NriEventMask.Bit(Event.StopContainer);
        mask |= RemoveContainer is null ? 0 : NriEventMask.Bit(Event.RemoveContainer);
        mask |= UpdatePodSandbox is null ? 0 : NriEventMask.Bit(Event.UpdatePodSandbox);
        mask |= PostUpdatePodSandbox is null ? 0 : NriEventMask.Bit(Event.PostUpdatePodSandbox);
        mask |= ValidateContainerAdjustment is null ? 0 : NriEventMask.Bit(Event.ValidateContainerAdjustment);
        HandledEvents = mask;
    }

    /// <summary>
    /// Subscribed when the plugin handles no event at all: an events value of 0 would subscribe to everything
    /// (on NRI 0.10 and later even the validator role). Remove-pod is harmless: it is answered with an empty
    /// reply and its errors are only logged.
    /// </summary>
    public static int FallbackMask => NriEventMask.Bit(Event.RemovePodSandbox);

    public int HandledEvents { get; }

    public IConfigureHandler? Configure { get; }
    public ISynchronizeHandler? Synchronize { get; }
    public IRunPodSandboxHandler? RunPodSandbox { get; }
    public IStopPodSandboxHandler? StopPodSandbox { get; }
    public IRemovePodSandboxHandler? RemovePodSandbox { get; }
    public IUpdatePodSandboxHandler? UpdatePodSandbox { get; }
    public IPostUpdatePodSandboxHandler? PostUpdatePodSandbox { get; }
    public ICreateContainerHandler? CreateContainer { get; }
    public IPostCreateContainerHandler? PostCreateContainer { get; }
    public IStartContainerHandler? StartContainer { get; }
    public IPostStartContainerHandler? PostStartContainer { get; }
    public IUpdateContainerHandler? UpdateContainer { get; }
    public IPostUpdateContainerHandler? PostUpdateContainer { get; }
    public IStopContainerHandler? StopContainer { get; }
    public IRemoveContainerHandler? RemoveContainer { get; }
    public IValidateContainerAdjustmentHandler? ValidateContainerAdjustment { get; }

    /// <summary>The mask to answer Configure with: handled events the runtime knows, never 0.</summary>
    public int MaskFor(NriRuntimeInfo runtime)
    {
        int valid = NriEventMask.ValidEventsFor(runtime);
        int mask = HandledEvents & valid;
        return mask != 0 ? mask : FallbackMask;
    }
}
