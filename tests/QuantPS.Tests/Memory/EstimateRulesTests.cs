using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Memory;
using QuantPS.Quantization.Job;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Memory;

/// <summary>Rules of thumb, llama.cpp's context and layer rules, -Recommend and the GPU fit.</summary>
public sealed class EstimateRulesTests
{
    private static readonly MemoryBudget Unlimited = new(1L << 50, 0);

    private static LlmMemoryEstimate Preset(string preset, string type, MemorySettings? settings = null) =>
        MemoryEstimator.Estimate(QuantizedModel.Plan(ModelPresets.Get(preset).ToShape(), QuantizeFileType.Parse(type), preset),
            settings ?? new MemorySettings(), Unlimited);

    [Fact]
    public void RulesOfThumb()
    {
        // 13B at FP32 about 52 GB (4 bytes a weight).
        Assert.InRange(Preset("llama-2-13b", "F32").Weights / 1e9, 50, 54);
        // 70B at FP16 about 140 GB.
        Assert.InRange(Preset("llama-3-70b", "F16").Weights / 1e9, 135, 145);
        Assert.InRange(Preset("llama-2-70b", "F16").Weights / 1e9, 135, 145);
        // 70B at 4 bits about 35-42 GB (Q4_K_M, 4.8 bits with its Q6_K tensors, is the 42.5 GB published files weigh).
        foreach (var type in new[] { "Q4_0", "Q4_K_S", "IQ4_XS", "IQ4_NL" })
        {
            Assert.InRange(Preset("llama-3-70b", type).Weights / 1e9, 35, 42);
        }

        Assert.InRange(Preset("llama-3-70b", "Q4_K_M").Weights / 1e9, 42, 43);

        // LLaMA-7B at Q4 under 8 GB, everything included, at its 4096 context.
        var q4 = Preset("llama-2-7b", "Q4_0");
        Assert.True(q4.Total < 8e9, $"{q4.Total / 1e9:0.00} GB");
        Assert.Equal(4096, q4.ContextLength);
        Assert.Equal(32L * 2 * 4096 * 4096 * 2, q4.KvCache); // no GQA: 2 GiB of F16 cache
    }

    [Fact]
    public void BitsPerWeightFollowTheTypeTraits()
    {
        Assert.Equal(16.0, Preset("llama-3-8b", "F16").BitsPerWeight, 2);
        Assert.Equal(32.0, Preset("llama-3-8b", "F32").BitsPerWeight, 2);
        // Q8_0: 34 bytes per 32 weights (8.5 bits) for every matrix; only the norms stay F32.
        Assert.InRange(Preset("llama-3-8b", "Q8_0").BitsPerWeight, 8.5, 8.51);
        // Q4_K_M mixes Q4_K (4.5), Q6_K (6.5625) for half the attn_v/ffn_down and the output: 4.8-4.95 on Llama-3-8B.
        Assert.InRange(Preset("llama-3-8b", "Q4_K_M").BitsPerWeight, 4.8, 4.95);
    }

    [Theory]
    [InlineData(100, 1, 256, 256)]
    [InlineData(4096, 1, 4096, 4096)]
    [InlineData(4097, 1, 4352, 4352)]
    [InlineData(4096, 3, 4608, 1536)]
    [InlineData(1000, 4, 1024, 256)]
    public void ContextIsPaddedAsLlamaCppPadsIt(int requested, int parallel, int context, int perSequence) =>
        Assert.Equal((context, perSequence), KvCacheSize.PadContext(requested, parallel));

    [Fact]
    public void ParallelSequencesEachGetAStream()
    {
        var one = Preset("llama-3-8b", "Q4_K_M", new MemorySettings { ContextLength = 8192 });
        var four = Preset("llama-3-8b", "Q4_K_M", new MemorySettings { ContextLength = 8192, Parallel = 4 });
        Assert.Equal(one.KvCache, four.KvCache); // the context is shared out, not multiplied
        Assert.Equal(2048, four.ContextPerSequence);
        Assert.Equal(4 * one.OutputBuffer, four.OutputBuffer);
        // Llama-3-8B: 32 layers · (K+V) · 8192 cells · 8 KV heads · 128 · 2 bytes = 1 GiB.
        Assert.Equal(1L << 30, one.KvCache);
    }

    [Fact]
    public void SlidingWindowLayersKeepOnlyTheWindow()
    {
        var gemma = Preset("gemma-2-9b", "Q4_K_M", new MemorySettings { ContextLength = 8192 });
        // Even layers slide (gemma2: period 2): PAD(min(8192, 4096 + 512), 256) = 4608 cells; odd layers 8192.
        var shape = QuantizedModel.Plan(ModelPresets.Get("gemma-2-9b").ToShape(), QuantizeFileType.Parse("Q4_K_M"), "g").Shape;
        long perCell = 8 * 256 * 2 * 2; // K+V, 8 KV heads of 256, F16
        Assert.Equal(21 * perCell * 4608 + 21 * perCell * 8192, gemma.KvCache);
        Assert.True(shape.IsSliding(0));
        Assert.False(shape.IsSliding(1));
    }

    [Fact]
    public void PerLayerKvHeadArraysAreRead()
    {
        // An architecture with a KV-head count per layer (a layer with 0 keeps no cache).
        var metadata = new[]
        {
            GgufMetadataEntry.Of("general.architecture", "llama"),
            GgufMetadataEntry.Of("llama.block_count", 3u),
            GgufMetadataEntry.Of("llama.context_length", 512u),
            GgufMetadataEntry.Of("llama.embedding_length", 128u),
            GgufMetadataEntry.Of("llama.feed_forward_length", 256u),
            GgufMetadataEntry.Of("llama.attention.head_count", 4u),
            GgufMetadataEntry.Of("llama.attention.head_count_kv", new GgufArray(GgufValueType.UInt32, new uint[] { 4, 0, 2 })),
        };
        using var model = GgufModel.FromPlan("per-layer", GgufLayout.Plan(metadata, [new GgufTensorSpec("token_embd.weight", GgmlType.F16, [128, 64])]));
        var est = MemoryEstimator.Estimate(MemoryModel.FromGguf(model), new MemorySettings(), Unlimited, perLayer: true);
        var blocks = est.Layers!.Where(l => l.Index is >= 0 and < 3).ToArray();
        Assert.Equal([512L * 128 * 2, 0, 512L * 64 * 2], blocks.Select(l => l.KeyCache));
        Assert.Equal(est.KvCache, blocks.Sum(l => l.KvCache));
    }

    [Fact]
    public void QuantizedCacheWithoutFlashAttentionIsRefused()
    {
        var e = Assert.Throws<MemoryEstimateException>(() =>
            Preset("llama-3-8b", "Q4_K_M", new MemorySettings { KvCacheType = GgmlType.Q8_0, FlashAttention = FlashAttentionMode.Disabled }));
        Assert.Equal(MemoryErrorIds.KvTypeNeedsFlashAttention, e.ErrorId);
        e = Assert.Throws<MemoryEstimateException>(() => Preset("llama-3-8b", "Q4_K_M", new MemorySettings { KvCacheType = GgmlType.Q4_K }));
        Assert.Equal(MemoryErrorIds.KvTypeNotSupported, e.ErrorId);
        // Every accepted cache type works with a head dimension of 128.
        foreach (var type in MemorySettings.KvCacheTypes)
        {
            Assert.True(Preset("llama-3-8b", "Q4_K_M", new MemorySettings { KvCacheType = type }).KvCache > 0);
        }
    }

    [Fact]
    public void WithoutFlashAttentionTheScoresDominate()
    {
        var fa = Preset("llama-3-8b", "Q4_K_M", new MemorySettings { ContextLength = 8192 });
        var plain = Preset("llama-3-8b", "Q4_K_M", new MemorySettings { ContextLength = 8192, FlashAttention = FlashAttentionMode.Disabled });
        Assert.False(plain.FlashAttention);
        // KQ scores: 8192 cells · 512 tokens · 32 heads · 4 bytes = 512 MiB, plus an F32 mask (16 MiB).
        Assert.True(plain.ComputeBuffers >= (512L + 16) << 20);
        // With flash attention Llama-3-8B's peak is the logits: 512 tokens · 128256 · 4 bytes = 250.5 MiB and the last norms.
        Assert.InRange(fa.ComputeBuffers / 1048576.0, 250.5, 270);
    }

    [Fact]
    public void LayersGoToTheGpuAsLlamaCppAssignsThem()
    {
        using var gguf = GgufModel.Open(SharedData.File("golden/models/synth-256.gguf"));
        var model = MemoryModel.FromGguf(gguf);
        var settings = new MemorySettings { ContextLength = 2048 };
        LlmMemoryEstimate With(int ngl) => MemoryEstimator.Estimate(model, settings with { GpuLayers = ngl }, new MemoryBudget(1L << 40, 1L << 40), perLayer: true);

        var none = With(0);
        Assert.Equal(0, none.Gpu);
        // -ngl 1 offloads only the output layer (output.weight, output_norm).
        var one = With(1);
        Assert.Equal(gguf.Tensors.Where(t => t.Name.StartsWith("output", StringComparison.Ordinal)).Sum(t => t.SizeBytes), one.WeightsGpu);
        Assert.Equal(0, one.KvCacheGpu);
        // -ngl 3: the output layer and the last two blocks, with their KV cache.
        var three = With(3);
        Assert.Equal([MemoryDevice.Cpu, MemoryDevice.Cpu, MemoryDevice.Cpu, MemoryDevice.Cpu, MemoryDevice.Cpu, MemoryDevice.Gpu, MemoryDevice.Gpu, MemoryDevice.Gpu],
            three.Layers!.Where(l => l.Index >= 0).Select(l => l.Device).Prepend(three.Layers![0].Device));
        Assert.Equal(none.KvCache / 6 * 2, three.KvCacheGpu);
        // All: token embeddings stay on the CPU.
        var all = With(-1);
        Assert.Equal(7, all.GpuLayers);
        Assert.Equal(gguf.FindTensor("token_embd.weight")!.SizeBytes, all.WeightsCpu);
        Assert.Equal(none.Weights, all.Weights);
        Assert.Equal(0, all.KvCacheCpu);
    }

    [Fact]
    public void TiedOutputIsDuplicatedOnTheGpu()
    {
        var model = QuantizedModel.Plan(ModelPresets.Get("llama-3.2-1b").ToShape(), QuantizeFileType.Parse("Q8_0"), "tied");
        var embd = model.Tensors.Single(t => t.Name == "token_embd.weight").Bytes;
        var cpu = MemoryEstimator.Estimate(model, new MemorySettings(), new MemoryBudget(1L << 40, 1L << 40));
        var gpu = MemoryEstimator.Estimate(model, new MemorySettings { GpuLayers = -1 }, new MemoryBudget(1L << 40, 1L << 40));
        Assert.Equal(cpu.Weights + embd, gpu.Weights);
        Assert.Equal(embd, gpu.WeightsCpu);
    }

    [Fact]
    public void MaxGpuLayersIsTheMostThatFitUnderTheMargin()
    {
        var model = QuantizedModel.Plan(ModelPresets.Get("llama-3-8b").ToShape(), QuantizeFileType.Parse("Q4_K_M"), "llama-3-8b");
        var settings = new MemorySettings { ContextLength = 8192 };
        foreach (long gib in new long[] { 1, 2, 3, 4, 6, 8, 24 })
        {
            var budget = new MemoryBudget(1L << 40, gib << 30);
            var plan = GpuLayerFit.MaxGpuLayers(model, settings, budget);
            Assert.True(plan.Gpu <= budget.GpuMemory - GpuLayerFit.DefaultMargin || plan.GpuLayers == 0);
            if (plan.GpuLayers < plan.OffloadableLayers)
            {
                var more = MemoryEstimator.Estimate(model, settings with { GpuLayers = plan.GpuLayers + 1 }, budget);
                Assert.True(more.Gpu > budget.GpuMemory - GpuLayerFit.DefaultMargin);
            }
        }

        Assert.Equal(0, GpuLayerFit.MaxGpuLayers(model, settings, new MemoryBudget(1L << 40, 1L << 30)).GpuLayers);
        var big = GpuLayerFit.MaxGpuLayers(model, settings, new MemoryBudget(1L << 40, 24L << 30));
        Assert.True(big.AllLayers);
        Assert.Equal(33, big.GpuLayers);
        Assert.Equal($"-c {big.ContextLength} -ngl -1", big.Arguments);
        // An 8 GiB card: 4.6 GiB of weights + 1 GiB of cache + compute fit whole under the 1 GiB margin.
        Assert.Equal(33, GpuLayerFit.MaxGpuLayers(model, settings, new MemoryBudget(1L << 40, 8L << 30)).GpuLayers);
        var four = GpuLayerFit.MaxGpuLayers(model, settings, new MemoryBudget(1L << 40, 4L << 30));
        Assert.InRange(four.GpuLayers, 10, 25);
    }

    [Fact]
    public void AnAutomaticContextIsShortenedBeforeLayersAreDropped()
    {
        // Llama 3.1 trains for 131072 tokens: 16 GiB of F16 cache alone. llama.cpp's fit shortens a
        // context the user did not set (no lower than 4096) before it keeps layers on the CPU.
        var model = QuantizedModel.Plan(ModelPresets.Get("llama-3.1-8b").ToShape(), QuantizeFileType.Parse("Q4_K_M"), "llama-3.1-8b");
        var settings = new MemorySettings();
        long target = (12L << 30) - GpuLayerFit.DefaultMargin;
        var twelve = GpuLayerFit.MaxGpuLayers(model, settings, new MemoryBudget(1L << 40, 12L << 30));
        Assert.True(twelve.AllLayers);
        Assert.True(twelve.ContextReduced);
        Assert.InRange(twelve.ContextLength, 4096, 131071);
        Assert.Equal(0, twelve.ContextLength % 256);
        Assert.True(twelve.Gpu <= target);
        Assert.Equal($"-c {twelve.ContextLength} -ngl -1", twelve.Arguments);
        // Memory is linear in the context, so the interpolated context is the longest that fits (to within one step of 256).
        var longer = MemoryEstimator.Estimate(model, settings with { ContextLength = twelve.ContextLength + 512, GpuLayers = -1 }, new MemoryBudget(1L << 40, 12L << 30));
        Assert.True(longer.Gpu > target);

        // 4 GiB: even 4096 tokens with every layer do not fit, so layers are fitted at 4096.
        var four = GpuLayerFit.MaxGpuLayers(model, settings, new MemoryBudget(1L << 40, 4L << 30));
        Assert.Equal(4096, four.ContextLength);
        Assert.True(four.ContextReduced);
        Assert.InRange(four.GpuLayers, 1, 32);

        // A context the user set is never changed.
        var fixedContext = GpuLayerFit.MaxGpuLayers(model, settings with { ContextLength = 32768 }, new MemoryBudget(1L << 40, 12L << 30));
        Assert.Equal(32768, fixedContext.ContextLength);
        Assert.False(fixedContext.ContextReduced);
    }

    [Fact]
    public void RecommendPutsTheBestFittingQualityFirst()
    {
        var shape = ModelPresets.Get("llama-3-8b").ToShape();
        using var virtualModel = shape.ToVirtualModel("llama-3-8b");
        var budget = new MemoryBudget(6L << 30, 0);
        var options = QuantizationAdvisor.Recommend(virtualModel, new MemorySettings { ContextLength = 8192 }, budget, hypothetical: true);

        // Every llama-quantize type but the aliases and COPY is listed.
        Assert.Equal(QuantizationAdvisor.Types.Select(t => t.Name).Order(), options.Select(o => o.Type).Order());
        var fitting = options.TakeWhile(o => o.Fits).ToList();
        Assert.All(options.Skip(fitting.Count), o => Assert.False(o.Fits));
        Assert.All(fitting, o => Assert.True(o.Total <= budget.SystemMemory));
        // 6 GiB with 1 GiB of cache: Q5_K_M (5.33 GB of weights) no longer fits; Q4_K_M, the best published figure that does, wins.
        Assert.False(options.Single(o => o.Type == "Q5_K_M").Fits);
        Assert.Equal("Q4_K_M", options[0].Type);
        Assert.Equal(0.1754, options[0].PerplexityDelta);
        Assert.Equal("Llama-3-8B", options[0].PerplexityReference);
        Assert.Equal(Enumerable.Range(1, options.Count), options.Select(o => o.Rank));
        var knownFitting = fitting.Where(o => o.PerplexityDelta is not null).Select(o => o.PerplexityDelta!.Value).ToList();
        Assert.Equal(knownFitting.Order(), knownFitting);
        // Unpublished types rank beside the best published type no larger than them; below every published size, last.
        int Rank(string t) => options.Single(o => o.Type == t).Rank;
        Assert.True(Rank("IQ4_NL") < Rank("Q4_K_S"));
        Assert.True(Rank("IQ4_XS") < Rank("Q3_K_L") && Rank("IQ4_XS") > Rank("Q4_0"));
        Assert.True(Rank("Q1_0") > Rank("Q2_K"));
        Assert.True(options.Single(o => o.Type == "IQ2_XXS").NeedsImportanceMatrix);
        Assert.True(options.Single(o => o.Type == "IQ2_XXS").CanQuantize); // with an importance matrix
        Assert.True(options.Single(o => o.Type == "Q4_K_M").CanQuantize);
    }

    [Fact]
    public void PublishedFiguresComeFromLlamaQuantizesList()
    {
        Assert.Equal((0.1754, "Llama-3-8B"), QuantizationAdvisor.PublishedPerplexity(QuantizeFileType.Parse("Q4_K_M")));
        Assert.Equal((-0.0050, "Mistral-7B"), QuantizationAdvisor.PublishedPerplexity(QuantizeFileType.Parse("BF16")));
        Assert.Equal((null, null), QuantizationAdvisor.PublishedPerplexity(QuantizeFileType.Parse("IQ4_XS")));
    }

    [Fact]
    public void MachineMemoryIsRead()
    {
        Assert.True(MachineMemory.SystemBytes() > 0);
        if (OperatingSystem.IsLinux())
        {
            Assert.Equal(MachineMemory.FromMeminfo("/proc/meminfo"), MachineMemory.SystemBytes());
        }

        Assert.Null(MachineMemory.FromMeminfo("/nonexistent/meminfo"));
    }
}
