"""Training data: read the files people bring, convert them to one shape, check, edit, preview.

``read`` reads files and hub ids, ``formats`` detects and converts the community's formats,
``validate`` lists row problems, ``template`` renders a conversation with the chat template and
its trained-token mask, ``token_cache`` caches that work, and ``store`` / ``edit`` / ``preview``
serve the Data tab (listing, uploads, saving, row edits, "as the model sees it").
"""
