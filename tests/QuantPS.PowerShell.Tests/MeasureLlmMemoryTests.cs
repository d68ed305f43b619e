using System.Management.Automation;
using QuantPS.Gguf;
using QuantPS.Memory;
using QuantPS.TestSupport;

namespace QuantPS.PowerShell.Tests;

/// <summary>Measure-LlmMemory in a hosted session: files, pipelines, remote headers, hypothetical models, -Recommend, -MaxGpuLayers, ErrorIds, views.</summary>
public sealed class MeasureLlmMemoryTests(PowerShellSession session) : IClassFixture<PowerShellSession>
{
    private const string Command = "QuantPS.PowerShell.MeasureLlmMemoryCommand";
    private readonly PowerShellSession _session = session;

    private static string Synth => SharedData.File("golden/models/synth-256.gguf");

    [Fact]
    public void A_file_gives_llama_cpps_buffers_in_exact_bytes()
    {
        var est = _session.Run("Measure-LlmMemory $Model -ContextLength 2048 -KvCacheType Q8_0 -BatchSize 512", ("Model", Synth)).Single<LlmMemoryEstimate>();

        using var model = GgufModel.Open(Synth);
        Assert.Equal(model.TensorBytes, est.Weights);
        Assert.Equal(3_342_336L, est.KvCache); // llama.cpp: "CPU KV buffer size = 3.19 MiB"
        Assert.Equal(2048L, est.OutputBuffer); // 512 logits · 4 bytes: "0.00 MiB"
        Assert.InRange(est.ComputeBuffers / 1048576.0, 6.54 * 0.9, 6.54 * 1.1);
        Assert.Equal("F16", est.Type);
        Assert.Equal(est.Cpu, est.Total);
        Assert.Equal(0, est.Gpu);
        Assert.True(est.Fits);
        Assert.True(est.SystemMemory > 0);
    }

    [Fact]
    public void Stories260K_with_a_q8_0_cache_is_refused_as_llama_cpp_refuses_it()
    {
        var result = _session.Run("Measure-LlmMemory $Model -KvCacheType q8_0; 'next'", ("Model", ModelFiles.Stories));

        var error = Assert.Single(result.Errors);
        Assert.Equal($"{MemoryErrorIds.KvTypeIncompatible},{Command}", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidOperation, error.CategoryInfo.Category);
        Assert.Contains("does not divide n_embd_head_k=8", error.Exception.Message, StringComparison.Ordinal);
        Assert.Equal("next", result.Output.Last().BaseObject); // non-terminating: per file
    }

    [Fact]
    public void Get_ChildItem_and_Get_GgufInfo_output_bind_by_property_name()
    {
        var result = _session.Run(
            """
            $f = [psobject]::AsPSObject([System.IO.FileInfo]::new($Model))
            $f.PSObject.Properties.Add([psnoteproperty]::new('PSPath', 'Microsoft.PowerShell.Core\FileSystem::' + $Model))
            $f | Measure-LlmMemory
            Get-GgufInfo $Model, $Synth | Measure-LlmMemory -ContextLength 512
            """,
            ("Model", ModelFiles.Stories), ("Synth", Synth));

        Assert.Empty(result.Errors);
        var estimates = result.Objects<LlmMemoryEstimate>();
        Assert.Equal(["stories260K.gguf", "stories260K.gguf", "synth-256.gguf"], estimates.Select(e => e.Model));
        Assert.Equal([2048, 512, 512], estimates.Select(e => e.ContextLength));
    }

    [Fact]
    public void Uri_reads_only_the_header_and_gives_the_same_figures()
    {
        var folder = Path.Combine(_session.TempFolder, "served-memory");
        Directory.CreateDirectory(folder);
        File.Copy(ModelFiles.Stories, Path.Combine(folder, "stories260K.gguf"), overwrite: true);
        using var server = new RangeServer(folder);
        var remote = _session.Run("Measure-LlmMemory -Uri $Uri", ("Uri", server.UriOf("stories260K.gguf"))).Single<LlmMemoryEstimate>();
        var local = _session.Run("Measure-LlmMemory $Model", ("Model", ModelFiles.Stories)).Single<LlmMemoryEstimate>();

        Assert.Equal((local.Weights, local.KvCache, local.ComputeBuffers, local.Total), (remote.Weights, remote.KvCache, remote.ComputeBuffers, remote.Total));

        // A remote header is enough to plan a quantization and to compare types.
        var plannedRun = _session.Run("Measure-LlmMemory -Uri $Uri -Type Q4_K_M", ("Uri", server.UriOf("stories260K.gguf")));
        Assert.True(plannedRun.Errors.Count == 0, string.Join("; ", plannedRun.Errors.Select(e => e.FullyQualifiedErrorId + ": " + e.Exception.Message)));
        var planned = plannedRun.Single<LlmMemoryEstimate>();
        Assert.Equal("Q4_K_M", planned.Type);
        Assert.True(planned.Weights < remote.Weights);
        var options = _session.Run("Measure-LlmMemory -Uri $Uri -Recommend", ("Uri", server.UriOf("stories260K.gguf")));
        Assert.True(options.Errors.Count == 0, string.Join("; ", options.Errors.Select(e => e.FullyQualifiedErrorId + ": " + e.Exception.Message)));
        Assert.Contains(options.Objects<LlmQuantizationOption>(), o => o.Type == "Q4_K_M" && o.Weights == planned.Weights);
        // Types llama-quantize refuses for this model (rows of 172 fit no Q8_0 block, and Q8_0 has no fallback) come last, with the reason.
        var q8 = options.Objects<LlmQuantizationOption>().Single(o => o.Type == "Q8_0");
        Assert.Contains("no tensor type fallback", q8.Refusal, StringComparison.Ordinal);
        Assert.False(q8.Fits);
        Assert.Null(q8.Estimate);
        Assert.All(options.Objects<LlmQuantizationOption>().SkipWhile(o => o.Refusal is null), o => Assert.NotNull(o.Refusal));

        var refused = _session.Run("Measure-LlmMemory -Uri $Uri -Type Q8_0", ("Uri", server.UriOf("stories260K.gguf")));
        Assert.StartsWith("QuantizeNoTypeFallback,", Assert.Single(refused.Errors).FullyQualifiedErrorId, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_can_be_measured_as_it_would_be_quantized()
    {
        var est = _session.Run("Measure-LlmMemory $Model -Type Q4_K_M", ("Model", Synth)).Single<LlmMemoryEstimate>();
        using var golden = GgufModel.Open(SharedData.File("golden/quantized/synth-256/synth-256-Q4_K_M.gguf"));

        Assert.Equal(golden.TensorBytes, est.Weights); // what llama-quantize wrote
        Assert.Equal(golden.FileLength, est.FileSize);
        Assert.Equal("Q4_K_M", est.Type);
    }

    [Fact]
    public void Preset_and_shape_describe_models_without_files()
    {
        var result = _session.Run(
            """
            Measure-LlmMemory -Preset llama-3-8b -Type Q4_K_M -ContextLength 8192
            Measure-LlmMemory -Preset LLaMA-3-8B -ParameterCount 8e9 -Type Q4_K_M -ContextLength 8192
            Measure-LlmMemory -ParameterCount '8.03B' -BlockCount 32 -EmbeddingLength 4096 -HeadCountKv 8 -VocabularySize 128256 -Type Q4_K_M -ContextLength 8192
            """);

        Assert.Empty(result.Errors);
        var (preset, checkedPreset, shape) = (result.Objects<LlmMemoryEstimate>()[0], result.Objects<LlmMemoryEstimate>()[1], result.Objects<LlmMemoryEstimate>()[2]);
        Assert.True(preset.IsHypothetical);
        Assert.Equal(8_030_261_248L, preset.ParameterCount);
        Assert.Equal(preset.Total, checkedPreset.Total);
        // The shape's feed-forward width is solved from the count: 14336, Llama 3's.
        Assert.Equal(preset.Weights, shape.Weights);
        Assert.Equal(1L << 30, preset.KvCache);
        Assert.InRange(preset.Weights / 1e9, 4.8, 5.0); // published Q4_K_M files of Llama-3-8B: 4.92 GB
    }

    [Fact]
    public void Mixture_of_experts_presets_count_every_expert()
    {
        var result = _session.Run(
            """
            Measure-LlmMemory -Preset mixtral-8x7b -Type Q4_K_M -ContextLength 8192
            Measure-LlmMemory -Preset qwen3-30b-a3b -Type Q8_0 -ContextLength 8192
            (TabExpansion2 -inputScript 'Measure-LlmMemory -Preset mixt' -cursorColumn 30).CompletionMatches.CompletionText
            """);

        Assert.Empty(result.Errors);
        var (mixtral, qwen) = ((LlmMemoryEstimate)result.Output[0].BaseObject, (LlmMemoryEstimate)result.Output[1].BaseObject);
        Assert.Equal(46_702_792_704L, mixtral.ParameterCount); // Mixtral-8x7B: 46.7 B
        Assert.Equal(28_447_727_616L, mixtral.Weights); // llama-quantize's Q4_K_M rules for 8 experts
        Assert.Equal(1L << 30, mixtral.KvCache);
        Assert.Equal("llama", mixtral.Architecture);
        Assert.Equal(30_532_122_624L, qwen.ParameterCount); // Qwen3-30B-A3B: 30.5 B
        Assert.Equal(32_477_962_240L, qwen.Weights);
        Assert.Equal(805_306_368L, qwen.KvCache);
        Assert.Equal("qwen3moe", qwen.Architecture);
        Assert.Equal(["mixtral-8x7b", "mixtral-8x22b"], result.Output.Skip(2).Select(o => o.BaseObject.ToString()));
    }

    [Fact]
    public void A_mixture_of_experts_shape_is_solved_from_its_parameter_count()
    {
        // Mixtral-8x7B typed in by hand: its feed-forward (expert) width solved from 46.7 B gives the preset's figures.
        var result = _session.Run(
            """
            Measure-LlmMemory -ParameterCount 46.7B -BlockCount 32 -EmbeddingLength 4096 -HeadCountKv 8 -VocabularySize 32000 -ExpertCount 8 -ExpertUsedCount 2 -Type Q4_K_M -ContextLength 8192
            Measure-LlmMemory -Preset mixtral-8x7b -Type Q4_K_M -ContextLength 8192
            Measure-LlmMemory -ParameterCount 46.7B -BlockCount 32 -EmbeddingLength 4096 -HeadCountKv 8 -VocabularySize 32000 -Type Q4_K_M -ContextLength 8192
            """);

        Assert.Empty(result.Errors);
        var (shape, preset, dense) = ((LlmMemoryEstimate)result.Output[0].BaseObject, (LlmMemoryEstimate)result.Output[1].BaseObject,
            (LlmMemoryEstimate)result.Output[2].BaseObject);
        Assert.Equal(preset.ParameterCount, shape.ParameterCount);
        Assert.Equal(preset.Weights, shape.Weights);
        Assert.Equal(preset.ComputeBuffers, shape.ComputeBuffers);
        Assert.True(shape.IsHypothetical);
        // Without -ExpertCount the same count is one dense model, quantized by other rules (no 8-expert mix).
        Assert.NotEqual(shape.Weights, dense.Weights);
    }

    [Fact]
    public void A_count_far_from_the_preset_warns()
    {
        var result = _session.Run("Measure-LlmMemory -Preset mistral-7b -ParameterCount 70B -WarningVariable w -WarningAction SilentlyContinue; $w.Count");
        Assert.Empty(result.Errors);
        Assert.Equal(1, result.Output.Last().BaseObject);
    }

    [Theory]
    [InlineData("Measure-LlmMemory -Preset llama-9-1t", "MemoryUnknownPreset", ErrorCategory.ObjectNotFound)]
    [InlineData("Measure-LlmMemory -Preset llama-3-8b -ParameterCount seventy", "MemoryInvalidParameterCount", ErrorCategory.InvalidArgument)]
    [InlineData("Measure-LlmMemory -ParameterCount 7B -BlockCount 32 -EmbeddingLength 4096 -HeadCountKv 3 -VocabularySize 32000", "MemoryInvalidShape", ErrorCategory.InvalidArgument)]
    [InlineData("Measure-LlmMemory -ParameterCount 1M -BlockCount 32 -EmbeddingLength 4096 -HeadCountKv 8 -VocabularySize 32000", "MemoryInvalidShape", ErrorCategory.InvalidArgument)]
    [InlineData("Measure-LlmMemory -ParameterCount 47B -BlockCount 32 -EmbeddingLength 4096 -HeadCountKv 8 -VocabularySize 32000 -ExpertCount 8", "MemoryInvalidShape", ErrorCategory.InvalidArgument)]
    [InlineData("Measure-LlmMemory -ParameterCount 47B -BlockCount 32 -EmbeddingLength 4096 -HeadCountKv 8 -VocabularySize 32000 -ExpertCount 8 -ExpertUsedCount 9", "MemoryInvalidShape", ErrorCategory.InvalidArgument)]
    [InlineData("Measure-LlmMemory -ParameterCount 7B -BlockCount 32 -EmbeddingLength 4096 -HeadCountKv 8 -VocabularySize 32000 -ExpertUsedCount 2", "MemoryInvalidShape", ErrorCategory.InvalidArgument)]
    [InlineData("Measure-LlmMemory -Preset llama-3-8b -Type Q9_K", "MemoryUnknownQuantizationType", ErrorCategory.InvalidArgument)]
    [InlineData("Measure-LlmMemory -Preset llama-3-8b -KvCacheType Q8_0 -FlashAttention Disabled", "MemoryKvTypeNeedsFlashAttention", ErrorCategory.InvalidOperation)]
    [InlineData("Measure-LlmMemory -Preset llama-3-8b -Recommend -MaxGpuLayers", "MemoryInvalidSetting", ErrorCategory.InvalidArgument)]
    public void Bad_input_stops_with_a_stable_ErrorId(string script, string errorId, ErrorCategory category)
    {
        var result = _session.Run($"try {{ {script} }} catch {{ $_ }}");
        var record = Assert.IsType<ErrorRecord>(result.Output.Single().BaseObject);
        Assert.Equal($"{errorId},{Command}", record.FullyQualifiedErrorId);
        Assert.Equal(category, record.CategoryInfo.Category);
    }

    [Fact]
    public void A_file_without_a_transformer_shape_is_a_non_terminating_error()
    {
        // A vocabulary-only file, as llama.cpp's ggml-vocab-*.gguf: an architecture but no layers.
        var tiny = _session.TempPath("memory-vocab-only.gguf");
        GgufWriter.Write(tiny, [GgufMetadataEntry.Of("general.architecture", "llama"), GgufMetadataEntry.Of("tokenizer.ggml.model", "llama")],
            [new GgufTensorSpec("token_embd.weight", QuantPS.Kernels.GgmlType.F32, [8, 4])], _ => new byte[128], overwrite: true);
        var result = _session.Run("Measure-LlmMemory $Tiny, $Model", ("Tiny", tiny), ("Model", ModelFiles.Stories));

        var error = Assert.Single(result.Errors);
        Assert.StartsWith("MemoryNotATextModel,", error.FullyQualifiedErrorId, StringComparison.Ordinal);
        Assert.Single(result.Objects<LlmMemoryEstimate>());
    }

    [Fact]
    public void Recommend_lists_every_type_best_fitting_quality_first()
    {
        var options = _session.Run("Measure-LlmMemory -Preset llama-3-8b -Recommend -SystemMemory 8GB -ContextLength 8192").Objects<LlmQuantizationOption>();

        Assert.Equal(QuantizationAdvisor.Types.Count, options.Count);
        Assert.True(options[0].Fits);
        Assert.Equal("Q6_K", options[0].Type); // 6.6 GB of weights + 1 GiB of cache fit 8 GiB; Q8_0 does not
        Assert.False(options.Single(o => o.Type == "Q8_0").Fits);
        Assert.Equal(options.OrderByDescending(o => o.Fits).Select(o => o.Type), options.Select(o => o.Type));
    }

    [Fact]
    public void MaxGpuLayers_returns_a_plan_that_converts_to_json()
    {
        var result = _session.Run(
            """
            $plan = Measure-LlmMemory -Preset llama-3-8b -Type Q4_K_M -ContextLength 8192 -MaxGpuLayers -GpuMemory 4GB
            $plan
            [System.Text.Json.JsonSerializer]::Serialize($plan, [QuantPS.Memory.LlmGpuLayerPlan])
            """);

        Assert.Empty(result.Errors);
        var plan = Assert.IsType<LlmGpuLayerPlan>(result.Output[0].BaseObject);
        Assert.InRange(plan.GpuLayers, 1, 32);
        Assert.True(plan.Gpu <= (4L << 30) - (1L << 30));
        var json = (string)result.Output[1].BaseObject;
        // ConvertTo-Json is not in this Core-only session (the Pester suite runs it); the plan is plain data either way.
        Assert.Contains($"\"GpuLayers\":{plan.GpuLayers}", json, StringComparison.Ordinal);
        Assert.Contains($"\"Arguments\":\"-c 8192 -ngl {plan.GpuLayers}\"", json, StringComparison.Ordinal);

        // The plan's layer count, run as -GpuLayers, fits the budget: one more does not.
        var at = _session.Run("Measure-LlmMemory -Preset llama-3-8b -Type Q4_K_M -ContextLength 8192 -GpuMemory 3GB -GpuLayers $N", ("N", plan.GpuLayers)).Single<LlmMemoryEstimate>();
        var over = _session.Run("Measure-LlmMemory -Preset llama-3-8b -Type Q4_K_M -ContextLength 8192 -GpuMemory 3GB -GpuLayers $N", ("N", plan.GpuLayers + 1)).Single<LlmMemoryEstimate>();
        Assert.True(at.Fits);
        Assert.False(over.Fits);
    }

    [Fact]
    public void MaxGpuLayers_without_a_GPU_budget_warns_and_offloads_nothing()
    {
        var result = _session.Run("Measure-LlmMemory $Model -MaxGpuLayers -WarningVariable w -WarningAction SilentlyContinue; $w.Count", ("Model", ModelFiles.Stories));
        Assert.Empty(result.Errors);
        Assert.Equal(0, Assert.IsType<LlmGpuLayerPlan>(result.Output[0].BaseObject).GpuLayers);
        Assert.Equal(1, result.Output[1].BaseObject);
    }

    [Fact]
    public void PerLayer_lists_input_blocks_and_output()
    {
        var est = _session.Run("Measure-LlmMemory $Model -PerLayer -GpuLayers 2 -GpuMemory 1GB", ("Model", ModelFiles.Stories)).Single<LlmMemoryEstimate>();
        Assert.Equal(["input", "blk.0", "blk.1", "blk.2", "blk.3", "blk.4", "output"], est.Layers!.Select(l => l.Layer));
        Assert.Equal(est.Weights - est.WeightsGpu, est.Layers!.Where(l => l.Device == MemoryDevice.Cpu).Sum(l => l.Weights));
        Assert.Equal([MemoryDevice.Gpu, MemoryDevice.Gpu], est.Layers!.TakeLast(2).Select(l => l.Device));
    }

    [Fact]
    public void Default_view_shows_human_units_while_properties_stay_bytes()
    {
        var text = _session.Render("Measure-LlmMemory $Model -ContextLength 8192 | Out-Default", ("Model", ModelFiles.Stories));
        Assert.Contains("1.12 MiB", text, StringComparison.Ordinal); // weights, as llama.cpp prints the model buffer
        Assert.Contains("5.00 MiB", text, StringComparison.Ordinal); // the F16 KV cache
        Assert.Contains("True", text, StringComparison.Ordinal);

        var recommend = _session.Render("Measure-LlmMemory -Preset llama-3-8b -Recommend -SystemMemory 8GB | Out-Default");
        Assert.Contains("+0.0217", recommend, StringComparison.Ordinal); // Q6_K's published delta
        Assert.Contains("GiB", recommend, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_documents_the_parameter_sets_and_examples()
    {
        var help = _session.Help("Measure-LlmMemory");
        Assert.DoesNotContain("Measure-LlmMemory ", help.Synopsis);
        Assert.True(help.ExampleCount >= 3);
        var parameters = help.Parameters;
        foreach (var name in new[] { "Path", "LiteralPath", "Uri", "Preset", "ParameterCount", "Type", "KvCacheType", "Recommend", "MaxGpuLayers", "GpuMemory", "SystemMemory" })
        {
            Assert.Contains(name, parameters);
        }

        var about = File.ReadAllText(Path.Combine(_session.ModuleFolder, "en-US", "about_QuantPS.help.txt"));
        foreach (var id in typeof(MemoryErrorIds).GetFields().Select(f => (string)f.GetValue(null)!))
        {
            Assert.Contains(id, about, StringComparison.Ordinal);
        }
    }
}
