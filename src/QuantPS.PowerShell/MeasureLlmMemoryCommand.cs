using System.Management.Automation;
using System.Net.Http;
using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Memory;
using QuantPS.Quantization;
using QuantPS.Quantization.Job;

namespace QuantPS.PowerShell;

/// <summary>
/// Measure-LlmMemory: how much memory llama.cpp needs to run a model (a file, a remote header, or a
/// shape that has no file yet), split into system and GPU memory, and whether it fits. -Recommend
/// compares every quantization type; -MaxGpuLayers plans the offload for a GPU budget.
/// </summary>
[Cmdlet(VerbsDiagnostic.Measure, "LlmMemory", DefaultParameterSetName = PathSet)]
[OutputType(typeof(LlmMemoryEstimate), typeof(LlmQuantizationOption), typeof(LlmGpuLayerPlan))]
public sealed class MeasureLlmMemoryCommand : GgufCmdletBase
{
    private const string PresetSet = "Preset";
    private const string ShapeSet = "Shape";

    private MemorySettings _settings = null!;
    private MemoryBudget _budget = null!;
    private QuantizeFileType? _type;

    /// <summary>A known model's shape (llama-3-8b, mistral-7b, qwen2.5-7b ...). Tab completes.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PresetSet)]
    [ArgumentCompleter(typeof(ModelPresetCompleter))]
    [ValidateNotNullOrEmpty]
    public string Preset { get; set; } = string.Empty;

    /// <summary>Parameters of a hypothetical model: 8e9, '70B', '1.5B'. With -Preset a check; with a shape it sizes the feed-forward layers when -FeedForwardLength is left out.</summary>
    [Parameter(ParameterSetName = PresetSet)]
    [Parameter(Mandatory = true, ParameterSetName = ShapeSet)]
    [ValidateNotNull]
    public object? ParameterCount { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ShapeSet)]
    public int BlockCount { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ShapeSet)]
    public long EmbeddingLength { get; set; }

    /// <summary>Attention heads; default EmbeddingLength / HeadDimension.</summary>
    [Parameter(ParameterSetName = ShapeSet)]
    public int HeadCount { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ShapeSet)]
    public int HeadCountKv { get; set; }

    [Parameter(ParameterSetName = ShapeSet)]
    public int HeadDimension { get; set; } = 128;

    /// <summary>Feed-forward width; derived from -ParameterCount when left out.</summary>
    [Parameter(ParameterSetName = ShapeSet)]
    public long FeedForwardLength { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = ShapeSet)]
    public long VocabularySize { get; set; }

    /// <summary>Experts per layer, for a mixture of experts in Mixtral's layout (each expert -FeedForwardLength wide; solved from -ParameterCount when that is left out).</summary>
    [Parameter(ParameterSetName = ShapeSet)]
    [ValidateRange(0, 4096)]
    public int ExpertCount { get; set; }

    /// <summary>Experts each token runs (llama.cpp's expert_used_count); required with -ExpertCount.</summary>
    [Parameter(ParameterSetName = ShapeSet)]
    [ValidateRange(1, 4096)]
    public int ExpertUsedCount { get; set; }

    /// <summary>The quantization: a file is measured as ConvertTo-Quantized would write it; a hypothetical model is planned at it (default F16).</summary>
    [Parameter]
    [ArgumentCompleter(typeof(QuantizeTypeCompleter))]
    [ValidateNotNullOrEmpty]
    public string? Type { get; set; }

    /// <summary>n_ctx; default the model's training context (4096 for a shape).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int ContextLength { get; set; }

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int BatchSize { get; set; } = 2048;

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int UBatchSize { get; set; } = 512;

    /// <summary>Parallel sequences (llama.cpp's -np): the context is shared out among them.</summary>
    [Parameter]
    [ValidateRange(1, 256)]
    public int Parallel { get; set; } = 1;

    [Parameter]
    [ValidateSet("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", IgnoreCase = true)]
    public string KvCacheType { get; set; } = "F16";

    [Parameter]
    public FlashAttentionMode FlashAttention { get; set; } = FlashAttentionMode.Auto;

    /// <summary>Layers to offload (llama.cpp's -ngl; the output layer counts first); -1 for all.</summary>
    [Parameter]
    [ValidateRange(-1, int.MaxValue)]
    public int GpuLayers { get; set; }

    /// <summary>GPU memory budget in bytes (8GB works). Default: none (no GPU is detected).</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long GpuMemory { get; set; }

    /// <summary>System memory budget in bytes. Default: this machine's total memory.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long SystemMemory { get; set; }

    /// <summary>Add per-layer detail (Layers) to the estimate.</summary>
    [Parameter]
    public SwitchParameter PerLayer { get; set; }

    /// <summary>Every quantization type, with size, memory, published quality loss and Fits; best quality that fits first.</summary>
    [Parameter]
    public SwitchParameter Recommend { get; set; }

    /// <summary>The most layers that fit -GpuMemory (leaving -GpuMargin free), as llama.cpp's --fit would choose.</summary>
    [Parameter]
    public SwitchParameter MaxGpuLayers { get; set; }

    /// <summary>GPU memory to leave free with -MaxGpuLayers; llama.cpp's default 1 GiB.</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long GpuMargin { get; set; } = GpuLayerFit.DefaultMargin;

    private bool Hypothetical => ParameterSetName is PresetSet or ShapeSet;

    protected override void BeginProcessing()
    {
        if (Recommend && MaxGpuLayers)
        {
            ThrowTerminatingError(MemoryErrors.Create(MemoryErrorIds.InvalidSetting,
                "Use -Recommend or -MaxGpuLayers, not both: -Recommend compares types, -MaxGpuLayers plans one model's offload. Pick a type with -Recommend, then run -MaxGpuLayers with -Type.", "Recommend, MaxGpuLayers"));
        }

        if (Type is not null)
        {
            if (!QuantizeFileType.TryParse(Type, out var type) || type.IsCopy)
            {
                ThrowTerminatingError(MemoryErrors.Create(MemoryErrorIds.UnknownQuantizationType,
                    $"'{Type}' is not a quantization type. Use one of: {string.Join(", ", QuantizeFileType.Names.Where(n => n != "COPY"))}.", Type));
            }

            _type = type;
        }

        _settings = new MemorySettings
        {
            ContextLength = ContextLength,
            BatchSize = BatchSize,
            UBatchSize = UBatchSize,
            Parallel = Parallel,
            KvCacheType = Enum.Parse<GgmlType>(KvCacheType, ignoreCase: true),
            FlashAttention = FlashAttention,
            GpuLayers = GpuLayers,
        };
        try
        {
            _settings.Validate();
            _budget = MemoryBudget.Machine(MyInvocation.BoundParameters.ContainsKey(nameof(SystemMemory)) ? SystemMemory : null, GpuMemory);
        }
        catch (MemoryEstimateException e)
        {
            ThrowTerminatingError(MemoryErrors.From(e, _settings));
        }
    }

    protected override void ProcessRecord()
    {
        if (!Hypothetical)
        {
            base.ProcessRecord();
            return;
        }

        try
        {
            var (shape, name) = BuildShape();
            using var model = shape.ToVirtualModel(name);
            Measure(model, name, hypothetical: true, defaultType: QuantizeFileType.Parse("F16"));
        }
        catch (MemoryEstimateException e)
        {
            ThrowTerminatingError(MemoryErrors.From(e, ParameterSetName == PresetSet ? Preset : ParameterCount));
        }
        catch (QuantizationException e)
        {
            ThrowTerminatingError(MemoryErrors.From(e, Type));
        }
    }

    protected override void ProcessFile(string path) => Run(path, () => GgufModel.Open(path));

    protected override void ProcessUri(Uri uri)
    {
        var target = GgufErrors.Describe(uri);
        WriteVerbose($"Reading the header of {target}");
        Run(target, () => GgufModel.OpenRemote(uri, RemoteOptions, StopToken));
    }

    private void Run(string target, Func<GgufModel> open)
    {
        GgufModel? model = null;
        try
        {
            model = open();
            Measure(model, null, hypothetical: false, defaultType: null);
        }
        catch (OperationCanceledException) when (StopToken.IsCancellationRequested)
        {
            // The pipeline is stopping; PowerShell reports that itself.
        }
        catch (GgufException e)
        {
            WriteError(GgufErrors.From(e, target));
        }
        catch (MemoryEstimateException e)
        {
            WriteError(MemoryErrors.From(e, target));
        }
        catch (QuantizationException e)
        {
            WriteError(MemoryErrors.From(e, target));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or HttpRequestException)
        {
            WriteError(GgufErrors.FromUnexpected(e, target));
        }
        finally
        {
            model?.Dispose();
        }
    }

    private void Measure(GgufModel model, string? name, bool hypothetical, QuantizeFileType? defaultType)
    {
        if (Recommend)
        {
            WriteObject(QuantizationAdvisor.Recommend(model, _settings, _budget, name, hypothetical), enumerateCollection: true);
            return;
        }

        var type = _type ?? defaultType;
        var measured = type is null ? MemoryModel.FromGguf(model) : QuantizedModel.Plan(model, type, name, hypothetical);
        if (hypothetical)
        {
            measured = measured with { FileSize = measured.FileSize + QuantizedModel.VocabularyBytes(measured.Shape.VocabularySize) };
        }

        if (MaxGpuLayers)
        {
            if (_budget.GpuMemory == 0)
            {
                WriteWarning("No -GpuMemory given and no GPU is detected here: the plan offloads nothing. Give the card's memory, e.g. -GpuMemory 8GB.");
            }

            WriteObject(GpuLayerFit.MaxGpuLayers(measured, _settings, _budget, GpuMargin));
            return;
        }

        WriteObject(MemoryEstimator.Estimate(measured, _settings, _budget, PerLayer));
    }

    private (HypotheticalShape Shape, string Name) BuildShape()
    {
        long? count = ParameterCount is null ? null : Memory.ParameterCount.Parse(ParameterCount is PSObject p ? p.BaseObject : ParameterCount);
        if (ParameterSetName == PresetSet)
        {
            var preset = ModelPresets.Get(Preset);
            var shape = preset.ToShape();
            if (ContextLength == 0) shape = shape with { ContextLength = preset.ContextLength };
            if (count is { } c && Math.Abs(c - preset.ParameterCount) > 0.1 * preset.ParameterCount)
            {
                WriteWarning($"{preset.Name} has {preset.ParameterCount / 1e9:0.00} B parameters, not {c / 1e9:0.00} B: the preset's shape is measured.");
            }

            return (shape, preset.Name);
        }

        if (ExpertCount > 0 && ExpertUsedCount == 0)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidShape,
                $"-ExpertCount {ExpertCount} needs -ExpertUsedCount: how many of the experts each token runs (Mixtral: 2 of 8).");
        }

        int heads = HeadCount > 0 ? HeadCount : (int)(EmbeddingLength / Math.Max(1, HeadDimension));
        var custom = new HypotheticalShape("llama", BlockCount, EmbeddingLength, heads, HeadCountKv, HeadDimension,
            FeedForwardLength, VocabularySize, ContextLength > 0 ? ContextLength : 4096,
            ExpertCount: ExpertCount, ExpertUsedCount: ExpertUsedCount);
        if (FeedForwardLength == 0)
        {
            (custom with { FeedForwardLength = 256 }).Validate();
            custom = custom with { FeedForwardLength = HypotheticalShape.FeedForwardFor(count!.Value, custom) };
            WriteVerbose($"Feed-forward width {custom.FeedForwardLength} gives {custom.ParameterCount / 1e9:0.00} B parameters.");
        }
        else if (Math.Abs(custom.ParameterCount - count!.Value) > 0.1 * count.Value)
        {
            WriteWarning($"The shape holds {custom.ParameterCount / 1e9:0.00} B parameters, not {count.Value / 1e9:0.00} B: the shape is measured.");
        }

        custom.Validate();
        return (custom, $"{count.Value / 1e9:0.##}B");
    }
}
