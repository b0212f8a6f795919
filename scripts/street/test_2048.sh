# Test the released 2048x1024 street model (scripts/street/download_models.py);
# the first frames come from the single-frame generator in checkpoints/label2city_single.
python test.py --name label2city_2048 \
--label_nc 35 --loadSize 2048 --n_scales_spatial 3 \
--use_instance --fg --use_single_G
