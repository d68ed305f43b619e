namespace QuantPS.Memory;

/// <summary>-MaxGpuLayers: how many layers to offload, decided before anything loads.</summary>
public sealed class LlmGpuLayerPlan
{
    public required string Model { get; init; }

    /// <summary>n_gpu_layers to pass (llama.cpp's -ngl).</summary>
    public int GpuLayers { get; init; }

    /// <summary>n_layer + 1 (the output layer is offloaded first).</summary>
    public int OffloadableLayers { get; init; }

    public bool AllLayers => GpuLayers == OffloadableLayers;

    public long GpuMemory { get; init; }

    /// <summary>Memory left free on the GPU (llama.cpp's --fit-target, default 1024 MiB).</summary>
    public long Margin { get; init; }

    public long Gpu { get; init; }

    public long Cpu { get; init; }

    /// <summary>What the GPU keeps free after loading (budget - use).</summary>
    public long GpuFree => GpuMemory - Gpu;

    /// <summary>Whether the CPU part fits system memory.</summary>
    public bool FitsSystemMemory { get; init; }

    /// <summary>n_ctx of the plan (after padding).</summary>
    public int ContextLength { get; init; }

    /// <summary>True when the context was left to the model and the fit shortened it (llama.cpp's step 2).</summary>
    public bool ContextReduced { get; init; }

    /// <summary>
    /// The llama.cpp arguments for this plan, as llama-fit-params prints them: the context, and
    /// -ngl -1 (llama.cpp's "all") when every layer is offloaded, else the layer count.
    /// </summary>
    public string Arguments => $"-c {ContextLength} -ngl {(AllLayers ? -1 : GpuLayers)}";

    public required LlmMemoryEstimate Estimate { get; init; }
}

/// <summary>
/// llama.cpp's fit (common/fit.cpp) for one GPU and a dense model, where the target is the
/// device's free memory minus a margin and device memory is weights + KV cache + compute:
/// <list type="number">
/// <item>everything offloaded already meets the target: all layers;</item>
/// <item>else, when the context was left to the model (n_ctx 0, which the fit takes as the
/// training context per sequence), it is shortened, no lower than --fit-ctx (4096 per sequence):
/// interpolated linearly between the two ends and rounded down to 256 per stream; if the
/// shortest context still does not fit, layers are fitted at it;</item>
/// <item>layers are added back to front (the output layer first) while the device stays within
/// the target; the most that fit win. Memory grows with each layer, so a scan gives the answer
/// of its false-position search.</item>
/// </list>
/// </summary>
public static class GpuLayerFit
{
    /// <summary>llama.cpp's default --fit-target.</summary>
    public const long DefaultMargin = 1024L * 1024 * 1024;

    /// <summary>llama.cpp's default --fit-ctx: the shortest context per sequence the fit sets.</summary>
    public const int MinimumContext = 4096;

    public static LlmGpuLayerPlan MaxGpuLayers(MemoryModel model, MemorySettings settings, MemoryBudget budget, long margin = DefaultMargin)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(budget);
        if (margin < 0)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidSetting, $"The GPU margin must not be negative (got {margin}).");
        }

        long target = budget.GpuMemory - margin;
        bool contextAuto = settings.ContextLength is null or 0;
        int streams = settings.Parallel;
        long contextMax = (long)model.Shape.ContextLength * streams, contextMin = (long)MinimumContext * streams;
        if (contextAuto && contextMax > 0)
        {
            settings = settings with { ContextLength = (int)Math.Min(contextMax, int.MaxValue) };
        }

        LlmMemoryEstimate At(MemorySettings s, int ngl) => MemoryEstimator.Estimate(model, s with { GpuLayers = ngl }, budget);

        var all = At(settings, -1);
        if (budget.GpuMemory > 0 && all.Gpu <= target)
        {
            return Plan(model, all, budget, margin, reduced: false);
        }

        bool reduced = false;
        if (budget.GpuMemory > 0 && contextAuto && contextMax > contextMin)
        {
            var shortest = settings with { ContextLength = (int)contextMin };
            var allShortest = At(shortest, -1);
            if (target > allShortest.Gpu)
            {
                long ctx = contextMin + (contextMax - contextMin) * (target - allShortest.Gpu) / (all.Gpu - allShortest.Gpu);
                long align = 256L * streams;
                ctx = Math.Max(ctx - ctx % align, contextMin);
                return Plan(model, At(settings with { ContextLength = (int)ctx }, -1), budget, margin, reduced: true);
            }

            settings = shortest;
            reduced = true;
        }

        var best = At(settings, 0);
        for (int ngl = 1; ngl <= best.OffloadableLayers; ngl++)
        {
            var next = At(settings, ngl);
            if (next.Gpu > target) break;
            best = next;
        }

        return Plan(model, best, budget, margin, reduced);
    }

    private static LlmGpuLayerPlan Plan(MemoryModel model, LlmMemoryEstimate estimate, MemoryBudget budget, long margin, bool reduced) => new()
    {
        Model = model.Name,
        GpuLayers = estimate.GpuLayers,
        OffloadableLayers = estimate.OffloadableLayers,
        GpuMemory = budget.GpuMemory,
        Margin = margin,
        Gpu = estimate.Gpu,
        Cpu = estimate.Cpu,
        FitsSystemMemory = estimate.Cpu <= budget.SystemMemory,
        ContextLength = estimate.ContextLength,
        ContextReduced = reduced,
        Estimate = estimate,
    };
}
