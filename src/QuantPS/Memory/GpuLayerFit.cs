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

    /// <summary>The llama.cpp arguments for this plan.</summary>
    public string Arguments => $"-ngl {GpuLayers}";

    public required LlmMemoryEstimate Estimate { get; init; }
}

/// <summary>
/// llama.cpp's layer fit (common/fit.cpp, one GPU, dense model): the target is the device's free
/// memory minus a margin; starting from no layers, layers are added back to front (the output
/// layer first) while the projected device memory (weights + KV + compute) stays within the
/// target; the most layers that fit win. Memory grows with each layer, so scanning gives the
/// same answer as its false-position search.
/// </summary>
public static class GpuLayerFit
{
    /// <summary>llama.cpp's default --fit-target.</summary>
    public const long DefaultMargin = 1024L * 1024 * 1024;

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
        var best = MemoryEstimator.Estimate(model, settings with { GpuLayers = 0 }, budget);
        for (int ngl = 1; ngl <= best.OffloadableLayers; ngl++)
        {
            var next = MemoryEstimator.Estimate(model, settings with { GpuLayers = ngl }, budget);
            if (next.Gpu > target) break;
            best = next;
        }

        return new LlmGpuLayerPlan
        {
            Model = model.Name,
            GpuLayers = best.GpuLayers,
            OffloadableLayers = best.OffloadableLayers,
            GpuMemory = budget.GpuMemory,
            Margin = margin,
            Gpu = best.Gpu,
            Cpu = best.Cpu,
            FitsSystemMemory = best.Cpu <= budget.SystemMemory,
            Estimate = best,
        };
    }
}
