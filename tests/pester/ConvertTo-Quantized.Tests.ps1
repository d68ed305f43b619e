#Requires -Version 7.4
# Pester 5 tests for ConvertTo-Quantized: llama-quantize's bytes, -WhatIf, refusals, no leftovers.
# Run: ./build.ps1 -Test, or after a build: Invoke-Pester ./tests/pester

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $noStories = -not (Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf')
    $noGolden = -not (Find-SharedFile 'golden/quantized/MANIFEST.tsv')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-QuantPSModule
    $stories = Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf'
    $manifest = Find-SharedFile 'golden/quantized/MANIFEST.tsv'

    function Get-GoldenSha([string] $Output) {
        (Get-Content -LiteralPath $manifest | ForEach-Object { , ($_ -split "`t") } | Where-Object { $_[1] -eq $Output })[3]
    }

    function Get-Sha([string] $Path) {
        (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
    }
}

Describe 'ConvertTo-Quantized' {
    Context 'stories260K from ../shared (skipped without it)' -Skip:($noStories -or $noGolden) {
        BeforeEach {
            $folder = Join-Path $TestDrive ([guid]::NewGuid().ToString('N'))
            New-Item -ItemType Directory -Path $folder | Out-Null
            Copy-Item -LiteralPath $stories -Destination $folder
            $model = Join-Path $folder 'stories260K.gguf'
        }

        It 'writes <stem>-<Type>.gguf with the sha256 of llama-quantize for <Type>' -TestCases @(
            @{ Type = 'Q4_K_M' }
            @{ Type = 'Q6_K' }
            @{ Type = 'IQ4_XS' }
            @{ Type = 'F16' }
        ) {
            Get-ChildItem -LiteralPath $folder -Filter *.gguf | ConvertTo-Quantized -Type $Type
            $written = Join-Path $folder "stories260K-$Type.gguf"
            Get-Sha $written | Should -Be (Get-GoldenSha "stories260K-$Type.gguf")
            @(Get-ChildItem -LiteralPath $folder -Force).Count | Should -Be 2
        }

        It '-WhatIf returns the plan and writes nothing; the size is exact' {
            $plan = ConvertTo-Quantized $model -Type Q5_K_M -WhatIf
            $plan | Should -BeOfType ([QuantPS.Quantization.Job.QuantizePlan])
            $plan.Tensors.Count | Should -Be 48
            @(Get-ChildItem -LiteralPath $folder).Count | Should -Be 1
            $info = ConvertTo-Quantized $model -Type Q5_K_M -PassThru
            $info.SizeBytes | Should -Be $plan.PredictedSize
        }

        It 'refuses an existing output without -Force' {
            Set-Content -LiteralPath (Join-Path $folder 'stories260K-F16.gguf') -Value 'keep'
            { ConvertTo-Quantized $model -Type F16 -ErrorAction Stop } | Should -Throw -ErrorId 'GgufOutputExists*'
            ConvertTo-Quantized $model -Type F16 -Force
            Get-Sha (Join-Path $folder 'stories260K-F16.gguf') | Should -Be (Get-GoldenSha 'stories260K-F16.gguf')
        }

        It 'names the tensor with no fallback and suggests -TensorType' {
            { ConvertTo-Quantized $model -Type Q8_0 -ErrorAction Stop } | Should -Throw -ErrorId 'QuantizeNoTypeFallback*'
            ConvertTo-Quantized $model -Type Q8_0 -TensorType @{ ffn_down = 'f16' } -OutFile (Join-Path $folder 'q8.gguf')
            Get-Sha (Join-Path $folder 'q8.gguf') | Should -Be (Get-GoldenSha 'stories260K-Q8_0-ffn_down-f16.gguf')
        }

        It 'gives <ErrorId> for <Case>' -TestCases @(
            @{ Case = 'a bad type name'; Arguments = @{ Type = 'Q4_K_X' }; ErrorId = 'QuantizeUnknownType*' }
            @{ Case = 'the input as output'; Arguments = @{ Type = 'F16'; Force = $true; OutFile = '<model>' }; ErrorId = 'QuantizeOutputIsInput*' }
        ) {
            if ($Arguments.OutFile -eq '<model>') { $Arguments.OutFile = $model }
            { ConvertTo-Quantized -LiteralPath $model @Arguments -ErrorAction Stop } | Should -Throw -ErrorId $ErrorId
        }

        It '-PruneLayers drops layers 1 and 3 and renumbers the rest' {
            $out = Join-Path $folder 'pruned.gguf'
            $info = ConvertTo-Quantized $model -Type F16 -PruneLayers 3, 1 -OutFile $out -PassThru
            $info.BlockCount | Should -Be 3
            $info.TensorCount | Should -Be 30
            $info.Tensors.Name | Should -Not -Contain 'blk.3.attn_q.weight'
            { ConvertTo-Quantized $model -Type F16 -PruneLayers 7 -OutFile (Join-Path $folder 'x.gguf') -ErrorAction Stop } |
                Should -Throw -ErrorId 'QuantizeBadPruneLayers*'
        }

        It '-KeepSplit names its output as a split of one, in file order as llama-quantize does' {
            $info = ConvertTo-Quantized $model -Type Q4_K_M -KeepSplit -OutFile (Join-Path $folder 'ks.gguf') -PassThru
            $info.Path | Should -Be (Join-Path $folder 'ks-00001-of-00001.gguf')
            # `llama-quantize --keep-split stories260K.gguf ks.gguf Q4_K_M 1` (llama.cpp 3f545bec)
            Get-Sha $info.Path | Should -Be 'd5cd53b8276ca9da5c26971e987201a062860716d2fc66ea5acdc4e4a0e7081e'
        }

        It 'completes -Type on Tab' {
            $line = 'ConvertTo-Quantized x.gguf -Type Q5_K_'
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Be @('Q5_K_S', 'Q5_K_M')
        }
    }
}
