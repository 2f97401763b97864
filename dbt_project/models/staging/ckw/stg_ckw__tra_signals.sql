with

source as (

    select * from {{ source('ckw', 'ckw_tra_signals') }}

),

renamed as (

    select

        ----------  ids
        batch_id,
        signal_name,
        description as signal_description,

        ---------- dates and timestamps
        signal_date_local,
        switch_on_utc,
        switch_off_utc

    from source

)

select * from renamed
