#Requires -Version 7.4
# Pester 5 tests for Measure-LlmMemory: llama.cpp's buffers, hypothetical models, -Recommend,
# -MaxGpuLayers as JSON, pipelines and ErrorIds.
# Run: ./build.ps1 -Test, or after a build: Invoke-Pester ./tests/pester

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $noStories = -not (Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf')
    $noGolden = -not (Find-SharedFile 'golden/memory/memory.tsv')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-QuantPSModule
    $stories = Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf'
    $synth = Find-SharedFile 'golden/models/synth-256.gguf'
    $table = Find-SharedFile 'golden/memory/memory.tsv'

    # MiB as llama.cpp prints them (%.2f of the exact value, ties to even).
    function ConvertTo-MiBText([long] $Bytes) {
        [Math]::Round([decimal] $Bytes / 1048576, 2, [MidpointRounding]::ToEven).ToString('0.00', [cultureinfo]::InvariantCulture)
    }
}

Describe 'Measure-LlmMemory' {
    Context 'against llama.cpp''s golden table (skipped without ../shared)' -Skip:($noStories -or $noGolden) {
        It 'matches every row of memory.tsv' {
            $rows = Import-Csv -LiteralPath $table -Delimiter "`t"
            $rows.Count | Should -Be 24
            foreach ($row in $rows) {
                $model = if ($row.model -eq 'synth-256') { $synth } else { $stories }
                $arguments = @{ LiteralPath = $model; ContextLength = [int] $row.n_ctx; KvCacheType = $row.kv_type; BatchSize = 512; UBatchSize = 512 }
                if ($row.model_buffers_MiB -like 'FAILED*') {
                    { Measure-LlmMemory @arguments -ErrorAction Stop } | Should -Throw -ErrorId 'MemoryKvTypeIncompatible*'
                    continue
                }

                $e = Measure-LlmMemory @arguments -ErrorAction Stop
                "CPU_Mapped=$(ConvertTo-MiBText $e.Weights);" | Should -Be $row.model_buffers_MiB
                ConvertTo-MiBText $e.KvCache | Should -Be $row.kv_buffer_MiB
                ConvertTo-MiBText $e.KeyCache | Should -Be $row.K_MiB
                ConvertTo-MiBText $e.ValueCache | Should -Be $row.V_MiB
                ConvertTo-MiBText $e.OutputBuffer | Should -Be $row.output_buffer_MiB
                $expected = [double] $row.compute_buffer_MiB.TrimEnd(';')
                [Math]::Abs($e.ComputeBuffers / 1MB - $expected) | Should -BeLessOrEqual (0.1 * $expected)
            }
        }

        It 'takes Get-ChildItem and Get-GgufInfo output from the pipeline' {
            $byFile = Get-ChildItem -LiteralPath $stories | Measure-LlmMemory
            $byInfo = Get-GgufInfo -LiteralPath $stories | Measure-LlmMemory
            $byFile.Total | Should -Be $byInfo.Total
            $byFile.Model | Should -Be 'stories260K.gguf'
        }

        It 'renders sizes in human units while the properties are bytes' {
            $e = Measure-LlmMemory -LiteralPath $stories -ContextLength 8192
            $e.KvCache | Should -Be 5242880
            ($e | Format-Table | Out-String) | Should -Match '5\.00 MiB'
            ($e | Format-List | Out-String) | Should -Match '5,242,880 bytes'
        }
    }

    Context 'models without files' {
        It 'gets the rules of thumb right' {
            (Measure-LlmMemory -Preset llama-2-13b -Type F32).Weights / 1e9 | Should -BeGreaterThan 50
            (Measure-LlmMemory -Preset llama-2-13b -Type F32).Weights / 1e9 | Should -BeLessThan 54
            (Measure-LlmMemory -Preset llama-3-70b -Type F16).Weights / 1e9 | Should -BeGreaterThan 135
            (Measure-LlmMemory -Preset llama-3-70b -Type F16).Weights / 1e9 | Should -BeLessThan 145
            (Measure-LlmMemory -Preset llama-3-70b -Type Q4_0).Weights / 1e9 | Should -BeGreaterThan 35
            (Measure-LlmMemory -Preset llama-3-70b -Type Q4_0).Weights / 1e9 | Should -BeLessThan 42
            (Measure-LlmMemory -Preset llama-2-7b -Type Q4_0).Total / 1e9 | Should -BeLessThan 8
        }

        It 'sizes mixtures of experts with every expert in the weights' {
            # Mixtral 8x7B: 46.7 B parameters, 8 experts of which 2 run per token; llama-quantize's Q4_K_M rules.
            $mixtral = Measure-LlmMemory -Preset mixtral-8x7b -Type Q4_K_M -ContextLength 8192
            $mixtral.Weights | Should -Be 28447727616
            $mixtral.KvCache | Should -Be 1GB
            (Measure-LlmMemory -Preset qwen3-30b-a3b -Type Q8_0).Weights | Should -Be 32477962240
            (Measure-LlmMemory -Preset qwen3-30b-a3b -Recommend -SystemMemory 24GB -ContextLength 8192 | Where-Object Fits | Select-Object -First 1).Type | Should -Be 'Q5_K_M'
        }

        It 'sizes a mixture of experts typed in as a shape like its preset' {
            $preset = Measure-LlmMemory -Preset mixtral-8x7b -Type Q4_K_M -ContextLength 8192
            $shape = Measure-LlmMemory -ParameterCount 46.7B -BlockCount 32 -EmbeddingLength 4096 -HeadCountKv 8 -VocabularySize 32000 -ExpertCount 8 -ExpertUsedCount 2 -Type Q4_K_M -ContextLength 8192
            $shape.Weights | Should -Be $preset.Weights
            $shape.ComputeBuffers | Should -Be $preset.ComputeBuffers
            { Measure-LlmMemory -ParameterCount 47B -BlockCount 32 -EmbeddingLength 4096 -HeadCountKv 8 -VocabularySize 32000 -ExpertCount 8 } |
                Should -Throw -ErrorId 'MemoryInvalidShape*'
        }

        It 'solves the feed-forward width from -ParameterCount' {
            $preset = Measure-LlmMemory -Preset llama-3-8b -Type Q4_K_M
            $shape = Measure-LlmMemory -ParameterCount 8.03B -BlockCount 32 -EmbeddingLength 4096 -HeadCountKv 8 -VocabularySize 128256 -Type Q4_K_M -ContextLength 8192
            $shape.Weights | Should -Be $preset.Weights
            $shape.IsHypothetical | Should -BeTrue
        }

        It 'recommends the best quality that fits first' {
            $options = Measure-LlmMemory -Preset llama-3-8b -Recommend -SystemMemory 8GB -ContextLength 8192
            $options[0].Type | Should -Be 'Q6_K'
            $options[0].Fits | Should -BeTrue
            ($options | Where-Object Type -eq 'Q8_0').Fits | Should -BeFalse
            ($options | Where-Object Fits | Select-Object -Last 1).Rank | Should -BeLessThan ($options | Where-Object { -not $_.Fits } | Select-Object -First 1).Rank
        }

        It 'plans GPU layers as an object that converts to JSON' {
            $plan = Measure-LlmMemory -Preset llama-3-70b -Type Q4_K_M -ContextLength 8192 -MaxGpuLayers -GpuMemory 24GB
            $json = $plan | ConvertTo-Json -Depth 2 | ConvertFrom-Json
            $json.GpuLayers | Should -Be $plan.GpuLayers
            $json.Arguments | Should -Be "-c 8192 -ngl $($plan.GpuLayers)"
            $plan.Gpu | Should -BeLessOrEqual (24GB - 1GB)
            (Measure-LlmMemory -Preset llama-3-70b -Type Q4_K_M -ContextLength 8192 -GpuMemory 23GB -GpuLayers ($plan.GpuLayers + 1)).Fits | Should -BeFalse
        }
    }

    Context 'errors' {
        It 'stops on <Arguments> with <ErrorId>' -TestCases @(
            @{ Arguments = @{ Preset = 'llama-9-1t' }; ErrorId = 'MemoryUnknownPreset' }
            @{ Arguments = @{ Preset = 'llama-3-8b'; ParameterCount = 'seventy' }; ErrorId = 'MemoryInvalidParameterCount' }
            @{ Arguments = @{ Preset = 'llama-3-8b'; Type = 'Q9_K' }; ErrorId = 'MemoryUnknownQuantizationType' }
            @{ Arguments = @{ Preset = 'llama-3-8b'; KvCacheType = 'Q8_0'; FlashAttention = 'Disabled' }; ErrorId = 'MemoryKvTypeNeedsFlashAttention' }
        ) {
            { Measure-LlmMemory @Arguments -ErrorAction Stop } | Should -Throw -ErrorId "$ErrorId,QuantPS.PowerShell.MeasureLlmMemoryCommand"
        }
    }
}
